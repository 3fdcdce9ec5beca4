//! Conversions between the wire messages and the domain types.
//!
//! - `mesos.Resource` (v0; v1 is wire-identical, see [`evolve`]) to and
//!   from [`Resource`]. Resources are written in the "pre-reservation-
//!   refinement" form every framework understands (`role`, `reservation`),
//!   and read in both forms.
//! - [`evolve`] / [`devolve`]: between v0 (`mesos.*`) and v1 (`mesos.v1.*`)
//!   messages, which share field numbers, by re-encoding as Mesos does.

// The pre-refinement form lives in fields the protos mark deprecated.
#![allow(deprecated)]

use crate::resources::{Reservation, Resource, Resources, ResourcesError, Value};
use crate::wire::mesos as v0;

const SCALAR: i32 = 0;
const RANGES: i32 = 1;
const SET: i32 = 2;

/// Why a wire message is not a valid domain value.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConvertError {
    /// The resource is invalid.
    #[error(transparent)]
    Resource(#[from] ResourcesError),
    /// The resource's type and value disagree.
    #[error("resource '{0}' has no value of its declared type")]
    MissingValue(String),
    /// A feature the domain model does not carry yet (disk info, shared,
    /// revocable, resource providers, refined reservations).
    #[error("resource '{name}': {what} is not supported")]
    Unsupported {
        /// The resource name.
        name: String,
        /// What is unsupported.
        what: &'static str,
    },
}

impl Resource {
    /// Reads a wire resource.
    pub fn from_wire(wire: &v0::Resource) -> Result<Resource, ConvertError> {
        let name = wire.name.clone();
        let missing = || ConvertError::MissingValue(name.clone());
        let value = match wire.r#type {
            SCALAR => Value::Scalar(wire.scalar.as_ref().ok_or_else(missing)?.value),
            RANGES => Value::Ranges(
                wire.ranges
                    .as_ref()
                    .ok_or_else(missing)?
                    .range
                    .iter()
                    .map(|r| (r.begin, r.end))
                    .collect(),
            ),
            SET => Value::Set(
                wire.set
                    .as_ref()
                    .ok_or_else(missing)?
                    .item
                    .iter()
                    .cloned()
                    .collect(),
            ),
            _ => return Err(missing()),
        };
        let unsupported = |what| ConvertError::Unsupported {
            name: name.clone(),
            what,
        };
        if wire.disk.is_some() {
            return Err(unsupported("disk info"));
        }
        if wire.shared.is_some() {
            return Err(unsupported("shared resources"));
        }
        if wire.revocable.is_some() {
            return Err(unsupported("revocable resources"));
        }
        if wire.provider_id.is_some() {
            return Err(unsupported("resource providers"));
        }
        let (role, reservation) = if !wire.reservations.is_empty() {
            if wire.reservations.len() > 1 {
                return Err(unsupported("refined reservations"));
            }
            let only = &wire.reservations[0];
            let role = only.role.clone().unwrap_or_default();
            // Type 1 is STATIC, 2 DYNAMIC.
            let dynamic = only.r#type != Some(1);
            let reservation = dynamic.then(|| Reservation {
                role: role.clone(),
                principal: only.principal.clone(),
            });
            (role, reservation)
        } else {
            let role = wire.role.clone().unwrap_or_else(|| "*".to_string());
            let reservation = wire.reservation.as_ref().map(|r| Reservation {
                role: role.clone(),
                principal: r.principal.clone(),
            });
            (role, reservation)
        };
        let resource = Resource {
            name,
            value,
            role,
            reservation,
            allocation_role: wire.allocation_info.as_ref().and_then(|a| a.role.clone()),
        };
        resource.validate()?;
        Ok(resource)
    }

    /// Writes a wire resource.
    pub fn to_wire(&self) -> v0::Resource {
        let mut wire = v0::Resource {
            name: self.name.clone(),
            role: Some(self.role.clone()),
            ..Default::default()
        };
        match &self.value {
            Value::Scalar(value) => {
                wire.r#type = SCALAR;
                wire.scalar = Some(v0::value::Scalar { value: *value });
            }
            Value::Ranges(ranges) => {
                wire.r#type = RANGES;
                wire.ranges = Some(v0::value::Ranges {
                    range: ranges
                        .iter()
                        .map(|&(begin, end)| v0::value::Range { begin, end })
                        .collect(),
                });
            }
            Value::Set(items) => {
                wire.r#type = SET;
                wire.set = Some(v0::value::Set {
                    item: items.iter().cloned().collect(),
                });
            }
        }
        if let Some(reservation) = &self.reservation {
            wire.reservation = Some(v0::resource::ReservationInfo {
                principal: reservation.principal.clone(),
                ..Default::default()
            });
        }
        if let Some(role) = &self.allocation_role {
            wire.allocation_info = Some(v0::resource::AllocationInfo {
                role: Some(role.clone()),
            });
        }
        wire
    }
}

impl Resources {
    /// Reads wire resources, combining like ones.
    pub fn from_wire(wire: &[v0::Resource]) -> Result<Resources, ConvertError> {
        let mut resources = Resources::new();
        for item in wire {
            resources.add_resource(&Resource::from_wire(item)?);
        }
        Ok(resources)
    }

    /// Writes wire resources.
    pub fn to_wire(&self) -> Vec<v0::Resource> {
        self.iter().map(Resource::to_wire).collect()
    }
}

/// Converts a v0 message to its v1 twin (or back: the two share field
/// numbers). Fails only if `To` is not the twin of `From`.
pub fn evolve<From: prost::Message, To: prost::Message + Default>(
    message: &From,
) -> Result<To, prost::DecodeError> {
    To::decode(message.encode_to_vec().as_slice())
}

/// The inverse of [`evolve`], named as Mesos names it.
pub fn devolve<From: prost::Message, To: prost::Message + Default>(
    message: &From,
) -> Result<To, prost::DecodeError> {
    evolve(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_round_trip_through_the_wire() {
        let mut resources =
            Resources::parse("cpus:2;mem:1024;ports:[31000-31005];zones:{a,b};disk(web):5")
                .unwrap();
        resources.allocate("web");
        let wire = resources.to_wire();
        assert_eq!(wire[0].role.as_deref(), Some("*"));
        assert_eq!(Resources::from_wire(&wire).unwrap(), resources);
    }

    #[test]
    fn reads_refined_form_and_rejects_what_it_cannot_carry() {
        let wire = v0::Resource {
            name: "cpus".into(),
            r#type: SCALAR,
            scalar: Some(v0::value::Scalar { value: 1.5 }),
            reservations: vec![v0::resource::ReservationInfo {
                r#type: Some(2),
                role: Some("db".into()),
                principal: Some("ops".into()),
                labels: None,
            }],
            ..Default::default()
        };
        let resource = Resource::from_wire(&wire).unwrap();
        assert_eq!(resource.role, "db");
        assert!(resource.is_dynamically_reserved());
        let missing = v0::Resource {
            name: "mem".into(),
            r#type: SCALAR,
            ..Default::default()
        };
        assert_eq!(
            Resource::from_wire(&missing),
            Err(ConvertError::MissingValue("mem".into()))
        );
        let negative = v0::Resource {
            scalar: Some(v0::value::Scalar { value: -1.0 }),
            ..missing
        };
        assert!(Resource::from_wire(&negative).is_err());
    }

    #[test]
    fn evolves_between_versions() {
        let v0_id = v0::SlaveId { value: "S1".into() };
        let v1_id: crate::wire::mesos::v1::AgentId = evolve(&v0_id).unwrap();
        assert_eq!(v1_id.value, "S1");
    }
}
