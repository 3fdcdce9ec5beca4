//! Mesos 1.11 wire types.
//!
//! The modules below are generated at build time from `proto/` and follow the
//! protobuf packages: `wire::mesos` (v0, `mesos.proto`), `wire::mesos::v1`,
//! `wire::mesos::scheduler`, `wire::mesos::v1::scheduler`,
//! `wire::mesos::internal` (the libprocess messages between master, agent,
//! drivers), and so on. prost normalises names (`FrameworkID` becomes
//! `FrameworkId`, `TASK_RUNNING` becomes `TaskState::TaskRunning`); field
//! names and numbers on the wire are unchanged.
//!
//! Every message implements [`prost_reflect::ReflectMessage`] against
//! [`DESCRIPTOR_POOL`], which [`json`] uses for the Mesos JSON mapping.

use std::sync::LazyLock;

use prost_reflect::DescriptorPool;

pub mod json;
pub mod media;
pub mod recordio;

/// Descriptors of every message in `proto/`, decoded once on first use.
pub static DESCRIPTOR_POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(FILE_DESCRIPTOR_SET)
        .expect("the descriptor set embedded at build time decodes")
});

/// The serialized `FileDescriptorSet` of `proto/`, as compiled at build time.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/file_descriptor_set.bin"));

#[allow(missing_docs, clippy::all, clippy::pedantic)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/wire.rs"));
}

pub use generated::*;

/// Why a protobuf body was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    /// Not a valid encoding of the message.
    #[error("{0}")]
    Malformed(String),
    /// A required field is absent (C++ peers refuse such messages too).
    #[error("missing required field '{0}'")]
    MissingRequired(String),
}

/// Decodes a protobuf and checks its required fields, as the C++ parser
/// Mesos uses does (prost alone fills them with defaults).
pub fn decode_checked<M>(bytes: &[u8]) -> Result<M, DecodeError>
where
    M: prost::Message + prost_reflect::ReflectMessage + Default,
{
    let message = M::decode(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    let dynamic = prost_reflect::DynamicMessage::decode(message.descriptor(), bytes)
        .map_err(|e| DecodeError::Malformed(e.to_string()))?;
    match missing_required(&dynamic, "") {
        Some(path) => Err(DecodeError::MissingRequired(path)),
        None => Ok(message),
    }
}

/// The path of the first required field missing in `message`, if any.
pub fn missing_required(message: &prost_reflect::DynamicMessage, path: &str) -> Option<String> {
    use prost_reflect::{Cardinality, ReflectMessage, Value};
    let join = |name: &str| {
        if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        }
    };
    for field in message.descriptor().fields() {
        if field.cardinality() == Cardinality::Required && !message.has_field(&field) {
            return Some(join(field.name()));
        }
        if !message.has_field(&field) {
            continue;
        }
        match &*message.get_field(&field) {
            Value::Message(inner) => {
                if let Some(missing) = missing_required(inner, &join(field.name())) {
                    return Some(missing);
                }
            }
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Value::Message(inner) = item
                        && let Some(missing) =
                            missing_required(inner, &format!("{}[{i}]", join(field.name())))
                    {
                        return Some(missing);
                    }
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod decode_tests {
    use super::*;

    #[test]
    fn decode_checked_refuses_missing_required_fields() {
        // type SUBSCRIBE, then an empty `subscribe` (prost would always
        // write the required fields, so the bytes are spelled out).
        let bytes = [0x10, 0x01, 0x1a, 0x00];
        let error = decode_checked::<mesos::v1::scheduler::Call>(&bytes).unwrap_err();
        assert_eq!(
            error,
            DecodeError::MissingRequired("subscribe.framework_info".into())
        );
        assert!(matches!(
            decode_checked::<mesos::v1::scheduler::Call>(&[0xff, 0xff]),
            Err(DecodeError::Malformed(_))
        ));
    }
}
