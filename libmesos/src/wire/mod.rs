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
    // The check reads the bytes again with the descriptor rather than
    // decoding a `DynamicMessage`: no allocation unless a field is missing
    // (agents' re-registrations carry hundreds of tasks).
    match first_missing(&message.descriptor(), bytes) {
        Ok(Some(path)) => Err(DecodeError::MissingRequired(path)),
        Ok(None) => Ok(message),
        Err(error) => Err(DecodeError::Malformed(error)),
    }
}

/// The path of the first required field missing in the encoded message
/// `bytes` of type `descriptor` (`subscribe.framework_info`,
/// `tasks[2].name`), as [`missing_required`] finds it on a decoded one.
/// Occurrences of a singular message field are merged, as parsers do.
fn first_missing(
    descriptor: &prost_reflect::MessageDescriptor,
    bytes: &[u8],
) -> Result<Option<String>, String> {
    use prost::encoding::{WireType, decode_key, decode_varint};
    use prost_reflect::{Cardinality, Kind};
    let mut present: Vec<u32> = Vec::new();
    // Singular message fields by number, with their payloads.
    let mut singular: Vec<(u32, Vec<&[u8]>)> = Vec::new();
    // Repeated message fields: number, index, payload.
    let mut repeated: Vec<(u32, usize, &[u8])> = Vec::new();
    let mut buf = bytes;
    while !buf.is_empty() {
        let (number, wire_type) = decode_key(&mut buf).map_err(|e| e.to_string())?;
        match wire_type {
            WireType::Varint => {
                decode_varint(&mut buf).map_err(|e| e.to_string())?;
            }
            WireType::SixtyFourBit | WireType::ThirtyTwoBit => {
                let size = if wire_type == WireType::SixtyFourBit {
                    8
                } else {
                    4
                };
                if buf.len() < size {
                    return Err(String::from("buffer underflow"));
                }
                buf = &buf[size..];
            }
            WireType::LengthDelimited => {
                let len = usize::try_from(decode_varint(&mut buf).map_err(|e| e.to_string())?)
                    .map_err(|_| String::from("length overflow"))?;
                if buf.len() < len {
                    return Err(String::from("buffer underflow"));
                }
                let (payload, rest) = buf.split_at(len);
                buf = rest;
                if let Some(field) = descriptor.get_field(number)
                    && matches!(field.kind(), Kind::Message(_))
                {
                    if field.is_list() || field.is_map() {
                        let index = repeated.iter().filter(|(n, _, _)| *n == number).count();
                        repeated.push((number, index, payload));
                    } else if let Some((_, payloads)) =
                        singular.iter_mut().find(|(n, _)| *n == number)
                    {
                        payloads.push(payload);
                    } else {
                        singular.push((number, vec![payload]));
                    }
                }
            }
            WireType::StartGroup | WireType::EndGroup => {
                return Err(String::from("groups are not used by Mesos"));
            }
        }
        if !present.contains(&number) {
            present.push(number);
        }
    }
    for field in descriptor.fields() {
        let number = field.number();
        if !present.contains(&number) {
            if field.cardinality() == Cardinality::Required {
                return Ok(Some(field.name().to_string()));
            }
            continue;
        }
        let Kind::Message(inner) = field.kind() else {
            continue;
        };
        if let Some((_, payloads)) = singular.iter().find(|(n, _)| *n == number) {
            let missing = if let [one] = payloads.as_slice() {
                first_missing(&inner, one)?
            } else {
                first_missing(&inner, &payloads.concat())?
            };
            if let Some(missing) = missing {
                return Ok(Some(format!("{}.{missing}", field.name())));
            }
        }
        for (_, index, payload) in repeated.iter().filter(|(n, _, _)| *n == number) {
            if let Some(missing) = first_missing(&inner, payload)? {
                return Ok(Some(format!("{}[{index}].{missing}", field.name())));
            }
        }
    }
    Ok(None)
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

    /// The byte-level check finds what the check of a decoded
    /// `DynamicMessage` finds: in nested, repeated and merged fields.
    #[test]
    fn the_byte_check_agrees_with_the_decoded_check() {
        use prost::Message as _;
        use prost_reflect::ReflectMessage as _;
        let task = |name: &str| mesos::Task {
            name: name.into(),
            task_id: mesos::TaskId { value: "t".into() },
            framework_id: mesos::FrameworkId { value: "f".into() },
            slave_id: mesos::SlaveId { value: "s".into() },
            state: mesos::TaskState::TaskRunning as i32,
            ..Default::default()
        };
        let message = mesos::internal::ReregisterSlaveMessage {
            slave: mesos::SlaveInfo {
                hostname: "h".into(),
                ..Default::default()
            },
            tasks: vec![task("a"), task("b")],
            ..Default::default()
        };
        let good = message.encode_to_vec();
        let check = |bytes: &[u8]| {
            let dynamic =
                prost_reflect::DynamicMessage::decode(message.descriptor(), bytes).unwrap();
            let expected = missing_required(&dynamic, "");
            assert_eq!(
                first_missing(&message.descriptor(), bytes).unwrap(),
                expected
            );
            expected
        };
        assert_eq!(check(&good), None);
        // A task without its required `name` (field 1, the first bytes
        // of its encoding) as the second task.
        let mut bad_task = task("x").encode_to_vec();
        assert_eq!(bad_task[0], 0x0a);
        bad_task.drain(..3);
        let mut bad = good.clone();
        prost::encoding::encode_key(3, prost::encoding::WireType::LengthDelimited, &mut bad);
        prost::encoding::encode_varint(bad_task.len() as u64, &mut bad);
        bad.extend_from_slice(&bad_task);
        assert_eq!(check(&bad).as_deref(), Some("tasks[2].name"));
        // Nothing at all: the required `slave` is missing.
        assert_eq!(check(&[]).as_deref(), Some("slave"));
        // `slave` in two parts (hostname in the second): merged, complete;
        // the first part alone is not.
        let mut alone = Vec::new();
        prost::encoding::encode_key(2, prost::encoding::WireType::LengthDelimited, &mut alone);
        prost::encoding::encode_varint(0, &mut alone);
        assert_eq!(check(&alone).as_deref(), Some("slave.hostname"));
        let mut merged = Vec::new();
        let first: Vec<u8> = Vec::new();
        let second = mesos::SlaveInfo {
            hostname: "h".into(),
            ..Default::default()
        }
        .encode_to_vec();
        for part in [&first, &second] {
            prost::encoding::encode_key(2, prost::encoding::WireType::LengthDelimited, &mut merged);
            prost::encoding::encode_varint(part.len() as u64, &mut merged);
            merged.extend_from_slice(part);
        }
        assert_eq!(check(&merged), None);
    }
}
