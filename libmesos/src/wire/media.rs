//! The media types of Mesos's v1 HTTP APIs (`/api/v1`, `/api/v1/scheduler`,
//! `/api/v1/executor`): a call's `Content-Type` and the `Accept` of its
//! answer, each `application/json` or `application/x-protobuf`.
//!
//! The parsing of headers lives here so that the master's and the agent's
//! APIs refuse the same requests with the same status codes and messages.

use prost_reflect::ReflectMessage;

/// `application/json`.
pub const APPLICATION_JSON: &str = "application/json";
/// `application/x-protobuf`.
pub const APPLICATION_PROTOBUF: &str = "application/x-protobuf";
/// `application/recordio` (streaming requests and answers).
pub const APPLICATION_RECORDIO: &str = "application/recordio";

/// The encoding of a v1 call or answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json`, in Mesos's JSON mapping.
    Json,
    /// `application/x-protobuf`.
    Protobuf,
}

impl Format {
    /// The media type naming this format.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Json => APPLICATION_JSON,
            Format::Protobuf => APPLICATION_PROTOBUF,
        }
    }

    /// `message` in this format.
    pub fn encode<M: ReflectMessage>(self, message: &M) -> Vec<u8> {
        match self {
            Format::Json => super::json::to_json_string(message).into_bytes(),
            Format::Protobuf => prost::Message::encode_to_vec(message),
        }
    }

    /// Decodes a `M` in this format, checking required fields; the error
    /// reads as Mesos words it ("Failed to parse body into Call protobuf").
    pub fn decode<M: ReflectMessage + Default>(self, body: &[u8]) -> Result<M, String> {
        let name = M::default().descriptor().name().to_string();
        match self {
            Format::Protobuf => super::decode_checked(body)
                .map_err(|e| format!("Failed to parse body into {name} protobuf: {e}")),
            Format::Json => {
                let json: serde_json::Value = serde_json::from_slice(body)
                    .map_err(|e| format!("Failed to parse body into JSON: {e}"))?;
                super::json::from_json(&json)
                    .map_err(|e| format!("Failed to convert JSON into {name} protobuf: {e}"))
            }
        }
    }
}

/// The bare media type of a header value: parameters dropped, lower case.
fn bare(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The format of a non-streaming call from its `Content-Type`; `None`
/// for `application/recordio`, which only streaming calls use. The error
/// is Mesos's message for a missing header (`400`) or another type
/// (`415`); `recordio` says whether the endpoint also takes streaming
/// calls (and so names that type in its message).
pub fn content_format(
    content_type: Option<&str>,
    recordio: bool,
) -> Result<Option<Format>, (u16, String)> {
    let Some(value) = content_type else {
        return Err((400, "Expecting 'Content-Type' to be present".into()));
    };
    match bare(value).as_str() {
        APPLICATION_JSON => Ok(Some(Format::Json)),
        APPLICATION_PROTOBUF => Ok(Some(Format::Protobuf)),
        APPLICATION_RECORDIO if recordio => Ok(None),
        _ if recordio => Err((
            415,
            format!(
                "Expecting 'Content-Type' of {APPLICATION_JSON} or {APPLICATION_PROTOBUF} or {APPLICATION_RECORDIO}"
            ),
        )),
        _ => Err((
            415,
            format!("Expecting 'Content-Type' of {APPLICATION_JSON} or {APPLICATION_PROTOBUF}"),
        )),
    }
}

/// Whether an `Accept` header admits `media` (no header admits
/// everything; `*/*` and `type/*` ranges count; `q=0` refuses).
pub fn accepts(accept: Option<&str>, media: &str) -> bool {
    let Some(accept) = accept else {
        return true;
    };
    let kind = media.split('/').next().unwrap_or(media);
    accept.split(',').any(|part| {
        let mut pieces = part.split(';');
        let range = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = pieces.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f64>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        !refused && (range == media || range == "*/*" || range == format!("{kind}/*"))
    })
}

/// The format of an answer: JSON when the client accepts it (or says
/// nothing), else protobuf, as Mesos chooses; `None` when it accepts
/// neither.
pub fn accept_format(accept: Option<&str>) -> Option<Format> {
    if accepts(accept, APPLICATION_JSON) {
        Some(Format::Json)
    } else if accepts(accept, APPLICATION_PROTOBUF) {
        Some(Format::Protobuf)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(
            content_format(Some("application/json"), false),
            Ok(Some(Format::Json))
        );
        assert_eq!(
            content_format(Some("application/x-protobuf; charset=x"), false),
            Ok(Some(Format::Protobuf))
        );
        assert_eq!(content_format(Some("application/recordio"), true), Ok(None));
        assert_eq!(content_format(None, false).unwrap_err().0, 400);
        assert_eq!(
            content_format(Some("text/plain"), false).unwrap_err().0,
            415
        );
        assert_eq!(
            content_format(Some("application/recordio"), false)
                .unwrap_err()
                .0,
            415
        );
    }

    #[test]
    fn accept_headers() {
        assert!(accepts(None, APPLICATION_JSON));
        assert!(accepts(Some("*/*"), APPLICATION_JSON));
        assert!(accepts(Some("application/*"), APPLICATION_PROTOBUF));
        assert!(!accepts(Some("application/x-protobuf"), APPLICATION_JSON));
        assert!(accepts(
            Some("text/html, application/json;q=0.9"),
            APPLICATION_JSON
        ));
        assert!(!accepts(Some("application/json;q=0"), APPLICATION_JSON));
        assert_eq!(accept_format(None), Some(Format::Json));
        assert_eq!(
            accept_format(Some("application/x-protobuf")),
            Some(Format::Protobuf)
        );
        assert_eq!(accept_format(Some("text/html")), None);
    }

    #[test]
    fn formats_round_trip() {
        use crate::wire::mesos::v1::FrameworkId;
        let id = FrameworkId {
            value: "f-1".into(),
        };
        for format in [Format::Json, Format::Protobuf] {
            let bytes = format.encode(&id);
            assert_eq!(format.decode::<FrameworkId>(&bytes).unwrap(), id);
        }
        let error = Format::Json.decode::<FrameworkId>(b"{").unwrap_err();
        assert!(
            error.starts_with("Failed to parse body into JSON"),
            "{error}"
        );
    }
}
