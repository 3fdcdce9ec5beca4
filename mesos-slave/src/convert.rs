//! Conversions between the agent's domain types and the wire types.
//!
//! - [`resources_from_wire_lenient`]: wire resources into the algebra for
//!   accounting, tolerating kinds the algebra does not model yet.
//! - [`parse_attributes`]: the `--attributes` text form.
//! - [`resources_model`]/[`attributes_model`]: the JSON that `/state` prints.

use mesos::resources::{Resource, Resources, Value};
use mesos::wire::mesos as v0;
use serde_json::{Map, Value as Json, json};

/// Reads wire resources into the algebra, skipping (with a warning) the
/// ones it cannot hold yet (disks with a source, shared, revocable): enough
/// for the agent's bookkeeping and its `/state` model.
pub fn resources_from_wire_lenient(wire: &[v0::Resource]) -> Resources {
    let mut out = Resources::new();
    for item in wire {
        match Resource::from_wire(item) {
            Ok(resource) => out.add_resource(&resource),
            Err(error) => tracing::warn!("Ignoring resource in accounting: {error}"),
        }
    }
    out
}

/// Mesos's JSON model of resources: `cpus`, `mem`, `gpus` and `disk`
/// always present, scalars as numbers, ranges and sets as text.
pub fn resources_model(resources: &Resources) -> Json {
    let mut object = Map::new();
    for name in ["cpus", "disk", "gpus", "mem"] {
        object.insert(name.into(), json!(0.0));
    }
    let mut names: Vec<&str> = resources.iter().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let same: Resources = resources.filter(|r| r.name == name).flatten();
        let Some(first) = same.iter().next() else {
            continue;
        };
        let value = match &first.value {
            Value::Scalar(_) => json!(same.scalar(name).unwrap_or(0.0)),
            Value::Ranges(_) => {
                let ranges = same.ranges(name).unwrap_or_default();
                Json::String(Value::Ranges(ranges).to_string())
            }
            Value::Set(_) => {
                let items = same.set(name).unwrap_or_default();
                Json::String(Value::Set(items).to_string())
            }
        };
        object.insert(name.into(), value);
    }
    Json::Object(object)
}

/// Why an `--attributes` value was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AttributesError {
    /// A token that is not `name:value`.
    #[error("invalid attribute key:value pair '{0}'")]
    BadPair(String),
    /// A value with unbalanced brackets or a bad range.
    #[error("invalid attribute value '{0}'")]
    BadValue(String),
}

/// Parses `rack:r1;zone:z2;cores:8;ports:[1-10]`: each value is a range
/// list, a scalar when it reads as a number, or else text. Spaces are
/// dropped, as Mesos does.
pub fn parse_attributes(text: &str) -> Result<Vec<v0::Attribute>, AttributesError> {
    let mut out = Vec::new();
    for token in text.split([';', '\n']).filter(|t| !t.is_empty()) {
        let (name, value) = token
            .split_once(':')
            .filter(|(n, v)| !n.is_empty() && !v.is_empty())
            .ok_or_else(|| AttributesError::BadPair(token.to_string()))?;
        let value: String = value.chars().filter(|c| *c != ' ').collect();
        if value.is_empty() {
            return Err(AttributesError::BadPair(token.to_string()));
        }
        let mut attribute = v0::Attribute {
            name: name.to_string(),
            ..Default::default()
        };
        let bad = || AttributesError::BadValue(value.clone());
        if value.starts_with('[') {
            let inner = value
                .strip_prefix('[')
                .and_then(|v| v.strip_suffix(']'))
                .ok_or_else(bad)?;
            let mut range = Vec::new();
            for item in inner.split(',').filter(|i| !i.is_empty()) {
                let (b, e) = item.split_once('-').ok_or_else(bad)?;
                let begin = b.parse().map_err(|_| bad())?;
                let end = e.parse().map_err(|_| bad())?;
                range.push(v0::value::Range { begin, end });
            }
            attribute.r#type = v0::value::Type::Ranges as i32;
            attribute.ranges = Some(v0::value::Ranges { range });
        } else if value.contains(['[', ']', '{', '}']) {
            return Err(bad());
        } else if let Some(number) = value.parse::<f64>().ok().filter(|n| n.is_finite()) {
            attribute.r#type = v0::value::Type::Scalar as i32;
            attribute.scalar = Some(v0::value::Scalar { value: number });
        } else {
            attribute.r#type = v0::value::Type::Text as i32;
            attribute.text = Some(v0::value::Text { value });
        }
        out.push(attribute);
    }
    Ok(out)
}

/// Mesos's JSON model of attributes: `{"rack":"r1","cores":8.0}`.
pub fn attributes_model(attributes: &[v0::Attribute]) -> Json {
    let mut object = Map::new();
    for a in attributes {
        let value = match v0::value::Type::try_from(a.r#type) {
            Ok(v0::value::Type::Scalar) => json!(a.scalar.map_or(0.0, |s| s.value)),
            Ok(v0::value::Type::Ranges) => {
                let ranges = a
                    .ranges
                    .iter()
                    .flat_map(|r| r.range.iter().map(|x| (x.begin, x.end)))
                    .collect();
                Json::String(Value::Ranges(ranges).to_string())
            }
            Ok(v0::value::Type::Text) => {
                Json::String(a.text.as_ref().map(|t| t.value.clone()).unwrap_or_default())
            }
            Ok(v0::value::Type::Set) => Json::String(
                Value::Set(a.set.iter().flat_map(|s| s.item.iter().cloned()).collect()).to_string(),
            ),
            Err(_) => continue,
        };
        object.insert(a.name.clone(), value);
    }
    Json::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_resources_as_mesos_prints_them() {
        let resources = Resources::parse("cpus:2;mem:512;ports:[1-2,4-5]").unwrap();
        assert_eq!(
            resources_model(&resources),
            json!({"cpus":2.0,"disk":0.0,"gpus":0.0,"mem":512.0,"ports":"[1-2, 4-5]"})
        );
    }

    #[test]
    fn parses_attributes() {
        let attrs = parse_attributes("rack:r1;cores:8;ports:[1-10]").unwrap();
        assert_eq!(attrs.len(), 3);
        assert_eq!(attrs[0].text.as_ref().unwrap().value, "r1");
        assert_eq!(attrs[1].scalar.unwrap().value, 8.0);
        assert_eq!(attrs[2].ranges.as_ref().unwrap().range[0].end, 10);
        assert_eq!(
            attributes_model(&attrs),
            json!({"rack":"r1","cores":8.0,"ports":"[1-10]"})
        );
        assert!(parse_attributes("rack").is_err());
        assert!(parse_attributes("rack:").is_err());
        assert!(parse_attributes("a:{x}").is_err());
        assert!(parse_attributes("").unwrap().is_empty());
    }
}
