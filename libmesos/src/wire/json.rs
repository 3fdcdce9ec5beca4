//! The Mesos JSON mapping of protobuf messages.
//!
//! Mesos does not use proto3 JSON. Its writer (stout's `JSON::protobuf`)
//! prints:
//! - field names as written in the `.proto` (snake_case), in declaration
//!   order;
//! - every set field, plus every unset, non-deprecated optional field that
//!   declares an explicit `[default = ...]` (an empty `Filters` prints as
//!   `{"refuse_seconds":5.0}`);
//! - repeated fields only when non-empty; enums by name; 64-bit integers as
//!   numbers; bytes as base64; maps as objects.
//!
//! Its parser looks fields up by proto name, ignores unknown keys, takes
//! `null` as "unset" (for lists and list items too), accepts numbers and
//! booleans written as strings, drops an unknown enum name on a non-required
//! field, and fails when a required field is missing after parsing.
//!
//! ```
//! use mesos::wire::{json, mesos::v1::Filters};
//! assert_eq!(json::to_json_string(&Filters::default()), r#"{"refuse_seconds":5.0}"#);
//! let parsed: Filters = json::from_json_str(r#"{"refuse_seconds":"0"}"#).unwrap();
//! assert_eq!(parsed.refuse_seconds, Some(0.0));
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use prost_reflect::{
    Cardinality, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, ReflectMessage,
    Value,
};
use serde_json::{Map, Number, Value as Json};

/// Why a JSON document could not become the requested message.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum JsonError {
    /// The text is not JSON at all.
    #[error("invalid JSON: {0}")]
    Syntax(String),
    /// A value has the wrong JSON type for its field.
    #[error("field '{path}': expected {expected}, got {got}")]
    Type {
        /// Dotted path of the field from the top-level message.
        path: String,
        /// What the field's type needs.
        expected: &'static str,
        /// What the document holds instead.
        got: String,
    },
    /// A required field is absent.
    #[error("missing required field '{0}'")]
    MissingRequired(String),
    /// A required enum field holds a name its enum does not have.
    #[error("field '{path}': unknown enum value {value}")]
    UnknownEnum {
        /// Dotted path of the field.
        path: String,
        /// The value that was sent.
        value: String,
    },
    /// The parsed message could not be turned into the Rust type.
    #[error("cannot build message: {0}")]
    Decode(String),
}

/// Prints `message` as Mesos prints it.
pub fn to_json<M: ReflectMessage>(message: &M) -> Json {
    dynamic_to_json(&message.transcode_to_dynamic())
}

/// Prints `message` as Mesos prints it, as compact text.
pub fn to_json_string<M: ReflectMessage>(message: &M) -> String {
    to_json(message).to_string()
}

/// Prints a dynamic message as Mesos prints it.
pub fn dynamic_to_json(message: &DynamicMessage) -> Json {
    let mut object = Map::new();
    let descriptor = message.descriptor();
    // Declaration order, as Mesos writes; `fields()` is in number order.
    let declared = descriptor
        .descriptor_proto()
        .field
        .iter()
        .filter_map(|f| descriptor.get_field(f.number() as u32));
    for field in declared {
        if field.is_list() || field.is_map() {
            if !message.has_field(&field) {
                continue;
            }
        } else if !message.has_field(&field) && !prints_default(&field) {
            continue;
        }
        let value = message.get_field(&field);
        object.insert(field.name().to_string(), value_to_json(&field, &value));
    }
    Json::Object(object)
}

/// Whether an unset field is printed with its declared default, as Mesos does.
fn prints_default(field: &FieldDescriptor) -> bool {
    let proto = field.field_descriptor_proto();
    field.cardinality() == Cardinality::Optional
        && proto.default_value.is_some()
        && !proto.options.as_ref().is_some_and(|o| o.deprecated())
}

fn value_to_json(field: &FieldDescriptor, value: &Value) -> Json {
    match value {
        Value::List(items) => Json::Array(items.iter().map(|v| scalar_to_json(field, v)).collect()),
        Value::Map(entries) => {
            let value_field = match field.kind() {
                Kind::Message(entry) => entry.map_entry_value_field(),
                _ => return Json::Null,
            };
            let mut keys: Vec<_> = entries.iter().collect();
            keys.sort_by_key(|(k, _)| map_key_string(k));
            Json::Object(
                keys.into_iter()
                    .map(|(k, v)| (map_key_string(k), scalar_to_json(&value_field, v)))
                    .collect(),
            )
        }
        other => scalar_to_json(field, other),
    }
}

fn map_key_string(key: &MapKey) -> String {
    match key {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
        MapKey::String(s) => s.clone(),
    }
}

fn float(f: f64) -> Json {
    Number::from_f64(f).map_or(Json::Null, Json::Number)
}

fn scalar_to_json(field: &FieldDescriptor, value: &Value) -> Json {
    match value {
        Value::Bool(b) => Json::Bool(*b),
        Value::I32(n) => Json::from(*n),
        Value::I64(n) => Json::from(*n),
        Value::U32(n) => Json::from(*n),
        Value::U64(n) => Json::from(*n),
        Value::F32(f) => float(f64::from(*f)),
        Value::F64(f) => float(*f),
        Value::String(s) => Json::String(s.clone()),
        Value::Bytes(b) => Json::String(BASE64.encode(b)),
        Value::EnumNumber(n) => match field.kind() {
            Kind::Enum(e) => e
                .get_value(*n)
                .map_or_else(|| Json::from(*n), |v| Json::String(v.name().to_string())),
            _ => Json::from(*n),
        },
        Value::Message(m) => dynamic_to_json(m),
        Value::List(_) | Value::Map(_) => value_to_json(field, value),
    }
}

/// Parses Mesos JSON text into `M`.
pub fn from_json_str<M: ReflectMessage + Default>(text: &str) -> Result<M, JsonError> {
    let json: Json = serde_json::from_str(text).map_err(|e| JsonError::Syntax(e.to_string()))?;
    from_json(&json)
}

/// Parses Mesos JSON bytes into `M`.
pub fn from_json_slice<M: ReflectMessage + Default>(bytes: &[u8]) -> Result<M, JsonError> {
    let json: Json = serde_json::from_slice(bytes).map_err(|e| JsonError::Syntax(e.to_string()))?;
    from_json(&json)
}

/// Converts a parsed JSON value into `M`, with Mesos's tolerance and its
/// required-field check.
pub fn from_json<M: ReflectMessage + Default>(json: &Json) -> Result<M, JsonError> {
    let descriptor = M::default().descriptor();
    let message = json_to_dynamic(&descriptor, json, "")?;
    message
        .transcode_to::<M>()
        .map_err(|e| JsonError::Decode(e.to_string()))
}

/// Converts a JSON value into a dynamic message of `descriptor`, checking
/// required fields.
pub fn json_to_dynamic(
    descriptor: &MessageDescriptor,
    json: &Json,
    path: &str,
) -> Result<DynamicMessage, JsonError> {
    let Json::Object(object) = json else {
        return Err(type_error(path, "object", json));
    };
    let mut message = DynamicMessage::new(descriptor.clone());
    for (key, value) in object {
        let Some(field) = descriptor.get_field_by_name(key) else {
            continue;
        };
        if value.is_null() {
            continue;
        }
        let field_path = join(path, key);
        if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                continue;
            };
            let Json::Object(entries) = value else {
                return Err(type_error(&field_path, "object", value));
            };
            let key_field = entry.map_entry_key_field();
            let value_field = entry.map_entry_value_field();
            let mut map = std::collections::HashMap::new();
            for (k, v) in entries {
                if v.is_null() {
                    continue;
                }
                let key = parse_map_key(&key_field, k, &field_path)?;
                if let Some(v) = json_to_value(&value_field, v, &field_path)? {
                    map.insert(key, v);
                }
            }
            message.set_field(&field, Value::Map(map));
        } else if field.is_list() {
            let Json::Array(items) = value else {
                return Err(type_error(&field_path, "array", value));
            };
            let mut list = Vec::with_capacity(items.len());
            for item in items.iter().filter(|i| !i.is_null()) {
                if let Some(v) = json_to_value(&field, item, &field_path)? {
                    list.push(v);
                }
            }
            if !list.is_empty() {
                message.set_field(&field, Value::List(list));
            }
        } else if let Some(v) = json_to_value(&field, value, &field_path)? {
            message.set_field(&field, v);
        }
    }
    for field in descriptor.fields() {
        if field.cardinality() == Cardinality::Required && !message.has_field(&field) {
            return Err(JsonError::MissingRequired(join(path, field.name())));
        }
    }
    Ok(message)
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn type_error(path: &str, expected: &'static str, got: &Json) -> JsonError {
    let mut got = got.to_string();
    if got.len() > 64 {
        let mut cut = 64;
        while !got.is_char_boundary(cut) {
            cut -= 1;
        }
        got.truncate(cut);
        got.push_str("...");
    }
    JsonError::Type {
        path: path.to_string(),
        expected,
        got,
    }
}

fn parse_map_key(field: &FieldDescriptor, key: &str, path: &str) -> Result<MapKey, JsonError> {
    let bad = || {
        type_error(
            path,
            "a map key of the declared type",
            &Json::String(key.into()),
        )
    };
    Ok(match field.kind() {
        Kind::String => MapKey::String(key.to_string()),
        Kind::Bool => MapKey::Bool(key.parse().map_err(|_| bad())?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => MapKey::I32(key.parse().map_err(|_| bad())?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => MapKey::I64(key.parse().map_err(|_| bad())?),
        Kind::Uint32 | Kind::Fixed32 => MapKey::U32(key.parse().map_err(|_| bad())?),
        Kind::Uint64 | Kind::Fixed64 => MapKey::U64(key.parse().map_err(|_| bad())?),
        _ => return Err(bad()),
    })
}

/// A JSON number, or a string holding one, as Mesos accepts.
fn number_text(value: &Json) -> Option<String> {
    match value {
        Json::Number(n) => Some(n.to_string()),
        Json::String(s) => Some(s.trim().to_string()),
        _ => None,
    }
}

fn parse_int<T: std::str::FromStr + TryFrom<i128>>(value: &Json) -> Option<T> {
    let text = number_text(value)?;
    if let Ok(n) = text.parse::<T>() {
        return Some(n);
    }
    // Integral values written with a fraction or exponent (`5.0`, `1e3`).
    let f: f64 = text.parse().ok()?;
    if f.fract() != 0.0 || !f.is_finite() {
        return None;
    }
    T::try_from(f as i128).ok()
}

/// One value of `field`'s type; `None` when Mesos would drop it (an unknown
/// enum name on a field that is not required).
fn json_to_value(
    field: &FieldDescriptor,
    json: &Json,
    path: &str,
) -> Result<Option<Value>, JsonError> {
    let value = match field.kind() {
        Kind::Double => {
            Value::F64(parse_float(json).ok_or_else(|| type_error(path, "number", json))?)
        }
        Kind::Float => {
            Value::F32(parse_float(json).ok_or_else(|| type_error(path, "number", json))? as f32)
        }
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            Value::I32(parse_int(json).ok_or_else(|| type_error(path, "32-bit integer", json))?)
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            Value::I64(parse_int(json).ok_or_else(|| type_error(path, "64-bit integer", json))?)
        }
        Kind::Uint32 | Kind::Fixed32 => Value::U32(
            parse_int(json).ok_or_else(|| type_error(path, "unsigned 32-bit integer", json))?,
        ),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(
            parse_int(json).ok_or_else(|| type_error(path, "unsigned 64-bit integer", json))?,
        ),
        Kind::Bool => Value::Bool(match json {
            Json::Bool(b) => *b,
            Json::String(s) if s == "true" => true,
            Json::String(s) if s == "false" => false,
            _ => return Err(type_error(path, "boolean", json)),
        }),
        Kind::String => match json {
            Json::String(s) => Value::String(s.clone()),
            _ => return Err(type_error(path, "string", json)),
        },
        Kind::Bytes => match json {
            Json::String(s) => Value::Bytes(
                BASE64
                    .decode(s)
                    .map_err(|_| type_error(path, "base64 string", json))?
                    .into(),
            ),
            _ => return Err(type_error(path, "base64 string", json)),
        },
        Kind::Enum(descriptor) => {
            let found = match json {
                Json::String(name) => descriptor.get_value_by_name(name),
                Json::Number(n) => n
                    .as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .and_then(|n| descriptor.get_value(n)),
                _ => return Err(type_error(path, "enum name", json)),
            };
            match found {
                Some(v) => Value::EnumNumber(v.number()),
                None if field.cardinality() == Cardinality::Required => {
                    return Err(JsonError::UnknownEnum {
                        path: path.to_string(),
                        value: json.to_string(),
                    });
                }
                None => return Ok(None),
            }
        }
        Kind::Message(descriptor) => Value::Message(json_to_dynamic(&descriptor, json, path)?),
    };
    Ok(Some(value))
}

fn parse_float(json: &Json) -> Option<f64> {
    match json {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::mesos::v1;
    use crate::wire::mesos::v1::scheduler as sched;

    fn subscribe_call() -> sched::Call {
        sched::Call {
            r#type: Some(sched::call::Type::Subscribe as i32),
            subscribe: Some(sched::call::Subscribe {
                framework_info: v1::FrameworkInfo {
                    user: "root".into(),
                    name: "test".into(),
                    failover_timeout: Some(604800.0),
                    roles: vec!["dev".into(), "ops".into()],
                    capabilities: vec![v1::framework_info::Capability {
                        r#type: Some(v1::framework_info::capability::Type::MultiRole as i32),
                    }],
                    ..Default::default()
                },
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn writes_declaration_order_and_explicit_defaults() {
        let text = to_json_string(&subscribe_call());
        assert_eq!(
            text,
            concat!(
                r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"test","#,
                r#""failover_timeout":604800.0,"checkpoint":false,"roles":["dev","ops"],"#,
                r#""capabilities":[{"type":"MULTI_ROLE"}]}}}"#
            )
        );
    }

    #[test]
    fn empty_filters_print_default_refuse_seconds() {
        assert_eq!(
            to_json_string(&v1::Filters::default()),
            r#"{"refuse_seconds":5.0}"#
        );
    }

    #[test]
    fn round_trips_a_call() {
        let call = subscribe_call();
        let back: sched::Call = from_json(&to_json(&call)).unwrap();
        let mut expected = call.clone();
        // Printed defaults come back as set fields.
        expected
            .subscribe
            .as_mut()
            .unwrap()
            .framework_info
            .checkpoint = Some(false);
        assert_eq!(back, expected);
    }

    #[test]
    fn sixty_four_bit_integers_are_numbers_and_bytes_base64() {
        let status = v1::TaskStatus {
            task_id: v1::TaskId { value: "t".into() },
            state: v1::TaskState::TaskRunning as i32,
            data: Some(bytes::Bytes::from_static(b"hello\0\xff")),
            ..Default::default()
        };
        let json = to_json(&status);
        assert_eq!(json["state"], "TASK_RUNNING");
        assert_eq!(json["data"], "aGVsbG8A/w==");
        let range = v1::value::Range {
            begin: 31000,
            end: 32000,
        };
        assert_eq!(to_json_string(&range), r#"{"begin":31000,"end":32000}"#);
        let back: v1::TaskStatus = from_json(&json).unwrap();
        assert_eq!(back.data, status.data);
    }

    #[test]
    fn tolerates_what_mesos_tolerates() {
        let text = r#"{"type":"SUBSCRIBE","unknown":1,"subscribe":{"framework_info":
            {"user":"root","name":"x","capabilities":null,"checkpoint":"true",
             "failover_timeout":"604800","roles":[null,"a"]}}}"#;
        let call: sched::Call = from_json_str(text).unwrap();
        let info = call.subscribe.unwrap().framework_info;
        assert_eq!(info.checkpoint, Some(true));
        assert_eq!(info.failover_timeout, Some(604800.0));
        assert_eq!(info.roles, vec!["a".to_string()]);
        assert!(info.capabilities.is_empty());

        let dropped: v1::framework_info::Capability =
            from_json_str(r#"{"type":"NOT_A_CAPABILITY"}"#).unwrap();
        assert_eq!(dropped.r#type, None);
    }

    #[test]
    fn rejects_missing_required_and_bad_types() {
        let err = from_json_str::<sched::Call>(
            r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"x"}}}"#,
        )
        .unwrap_err();
        assert_eq!(
            err,
            JsonError::MissingRequired("subscribe.framework_info.user".into())
        );

        let err = from_json_str::<v1::Filters>(r#"{"refuse_seconds":[1]}"#).unwrap_err();
        assert!(matches!(err, JsonError::Type { ref path, .. } if path == "refuse_seconds"));
        assert!(matches!(
            from_json_str::<v1::Filters>("{"),
            Err(JsonError::Syntax(_))
        ));
        assert!(matches!(
            from_json_str::<v1::Filters>("[]"),
            Err(JsonError::Type { .. })
        ));
        let err =
            from_json_str::<v1::TaskStatus>(r#"{"task_id":{"value":"t"},"state":"TASK_NOPE"}"#)
                .unwrap_err();
        assert!(matches!(err, JsonError::UnknownEnum { .. }));
    }

    #[test]
    fn maps_are_objects() {
        let mut limits = std::collections::HashMap::new();
        limits.insert("cpus".to_string(), v1::value::Scalar { value: 1.5 });
        let info = v1::TaskInfo {
            name: "n".into(),
            task_id: v1::TaskId { value: "t".into() },
            agent_id: v1::AgentId { value: "a".into() },
            limits: limits.clone(),
            ..Default::default()
        };
        let json = to_json(&info);
        assert_eq!(json["limits"]["cpus"]["value"], 1.5);
        let back: v1::TaskInfo = from_json(&json).unwrap();
        assert_eq!(back.limits, limits);
    }

    /// Sets every required field (recursively) so the message is complete.
    fn fill_required(message: &mut DynamicMessage) {
        for field in message.descriptor().fields() {
            if field.cardinality() != Cardinality::Required {
                continue;
            }
            let value = match field.kind() {
                Kind::Message(d) => {
                    let mut inner = DynamicMessage::new(d);
                    fill_required(&mut inner);
                    Value::Message(inner)
                }
                Kind::Enum(e) => Value::EnumNumber(e.default_value().number()),
                _ => field.default_value(),
            };
            message.set_field(&field, value);
        }
    }

    /// Every call and event type of the v1 scheduler and executor APIs
    /// survives JSON and protobuf round trips.
    #[test]
    fn every_call_and_event_type_round_trips() {
        use prost::Message as _;
        let pool = &*crate::wire::DESCRIPTOR_POOL;
        let mut checked = 0;
        for name in [
            "mesos.v1.scheduler.Call",
            "mesos.v1.scheduler.Event",
            "mesos.v1.executor.Call",
            "mesos.v1.executor.Event",
            "mesos.scheduler.Call",
            "mesos.scheduler.Event",
        ] {
            let descriptor = pool.get_message_by_name(name).unwrap();
            let type_field = descriptor.get_field_by_name("type").unwrap();
            let Kind::Enum(types) = type_field.kind() else {
                panic!("{name}.type")
            };
            for value in types.values() {
                let mut message = DynamicMessage::new(descriptor.clone());
                message.set_field(&type_field, Value::EnumNumber(value.number()));
                fill_required(&mut message);
                let json = dynamic_to_json(&message);
                assert_eq!(json["type"], value.name(), "{name}");
                let back = json_to_dynamic(&descriptor, &json, "").unwrap();
                assert_eq!(back, message, "{name} {}", value.name());
                let bytes = message.encode_to_vec();
                let decoded = DynamicMessage::decode(descriptor.clone(), bytes.as_slice()).unwrap();
                assert_eq!(decoded, message);
                checked += 1;
            }
        }
        assert!(checked > 40, "only {checked} types checked");
    }
}
