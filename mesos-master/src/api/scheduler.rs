//! `/api/v1/scheduler`: the v1 scheduler HTTP API, protobuf and JSON, with
//! Mesos's status codes and messages.

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use mesos::process::{Body, read_body, respond};
use mesos::wire::mesos::scheduler as v0;
use mesos::wire::mesos::v1::scheduler as v1;
use tokio::sync::oneshot;

use crate::master::CallError;
use crate::runtime::{Format, Input, MasterHandle};

/// The largest call accepted (an ACCEPT with many tasks stays far below).
const MAX_CALL_BYTES: usize = 64 * 1024 * 1024;

fn content_format(request: &Request<Incoming>) -> Result<Format, (StatusCode, String)> {
    let value = request
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or(""));
    match mesos::wire::media::content_format(value, false) {
        Ok(Some(format)) => Ok(format),
        Ok(None) => Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Expecting 'Content-Type' of application/json or application/x-protobuf".into(),
        )),
        Err((code, message)) => Err((
            StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
            message,
        )),
    }
}

/// What the client accepts for the event stream: JSON when it accepts it
/// (or says nothing), else protobuf, as Mesos decides.
fn accept_format(request: &Request<Incoming>) -> Option<Format> {
    let accept = request
        .headers()
        .get(header::ACCEPT)
        .map(|v| v.to_str().unwrap_or(""));
    mesos::wire::media::accept_format(accept)
}

fn decode(body: &[u8], format: Format) -> Result<v0::Call, String> {
    let call: v1::Call = match format {
        Format::Protobuf => mesos::wire::decode_checked(body)
            .map_err(|e| format!("Failed to parse body into Call protobuf: {e}"))?,
        Format::Json => {
            let json: serde_json::Value = serde_json::from_slice(body)
                .map_err(|e| format!("Failed to parse body into JSON: {e}"))?;
            mesos::wire::json::from_json(&json)
                .map_err(|e| format!("Failed to convert JSON into Call protobuf: {e}"))?
        }
    };
    mesos::convert::devolve(&call).map_err(|e| format!("Failed to convert call: {e}"))
}

fn error_response(error: CallError) -> Response<Body> {
    let status = match error {
        CallError::BadRequest(_) | CallError::FrameworkNotFound | CallError::StreamMismatch(_) => {
            StatusCode::BAD_REQUEST
        }
        CallError::NotSubscribed | CallError::Forbidden(_) => StatusCode::FORBIDDEN,
    };
    respond(status, &error.to_string())
}

pub(super) async fn handle(master: MasterHandle, request: Request<Incoming>) -> Response<Body> {
    if request.method() != Method::POST {
        return respond(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!(
                "Expecting a 'POST' request, received '{}'",
                request.method()
            ),
        );
    }
    let format = match content_format(&request) {
        Ok(format) => format,
        Err((status, message)) => return respond(status, &message),
    };
    let accept = accept_format(&request);
    let stream_id = request
        .headers()
        .get("mesos-stream-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match read_body(request.into_body(), MAX_CALL_BYTES).await {
        Ok(body) => body,
        Err(error) => return respond(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    let call = match decode(&body, format) {
        Ok(call) => call,
        Err(message) => return respond(StatusCode::BAD_REQUEST, &message),
    };
    let call_type = call.r#type.and_then(|t| v0::call::Type::try_from(t).ok());
    match call_type {
        None | Some(v0::call::Type::Unknown) => respond(
            StatusCode::BAD_REQUEST,
            "Failed to validate scheduler::Call: Expecting 'type' to be present",
        ),
        Some(v0::call::Type::Subscribe) => {
            if stream_id.is_some() {
                return respond(
                    StatusCode::BAD_REQUEST,
                    "Subscribe calls should not include the 'Mesos-Stream-Id' header",
                );
            }
            let Some(accept) = accept else {
                return respond(
                    StatusCode::NOT_ACCEPTABLE,
                    "Expecting 'Accept' to allow 'application/json' or 'application/x-protobuf'",
                );
            };
            subscribe(master, call, accept).await
        }
        Some(_) => {
            let (reply, answer) = oneshot::channel();
            if !master.send(Input::Call {
                call,
                stream_id,
                reply,
            }) {
                return respond(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The master is shutting down",
                );
            }
            match answer.await {
                Ok(Ok(())) => respond(StatusCode::ACCEPTED, ""),
                Ok(Err(error)) => error_response(error),
                Err(_) => respond(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The master is shutting down",
                ),
            }
        }
    }
}

async fn subscribe(master: MasterHandle, call: v0::Call, format: Format) -> Response<Body> {
    let (sender, body) = Body::channel();
    let (reply, answer) = oneshot::channel();
    if !master.send(Input::Subscribe {
        call,
        format,
        sender,
        reply,
    }) {
        return respond(
            StatusCode::SERVICE_UNAVAILABLE,
            "The master is shutting down",
        );
    }
    match answer.await {
        Ok(Ok((_, stream_id))) => {
            let mut response = Response::new(body);
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.media_type()),
            );
            if let Ok(value) = HeaderValue::from_str(&stream_id) {
                headers.insert("Mesos-Stream-Id", value);
            }
            response
        }
        Ok(Err(error)) => error_response(error),
        Err(_) => respond(
            StatusCode::SERVICE_UNAVAILABLE,
            "The master is shutting down",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever arrives, decoding answers with a call or an error.
        #[test]
        fn decoding_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&body, Format::Protobuf);
            let _ = decode(&body, Format::Json);
        }

        /// JSON-shaped garbage too.
        #[test]
        fn json_shapes_never_panic(text in r#"\{("[a-z_]{1,12}":("[A-Z_]{0,10}"|[0-9]{1,5}|null|\[\]|\{\}),?){0,6}\}"#) {
            let _ = decode(text.as_bytes(), Format::Json);
        }
    }

    #[test]
    fn decodes_json_with_v1_names_and_refuses_bad_bodies() {
        let call = decode(
            br#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}"#,
            Format::Json,
        )
        .unwrap();
        assert_eq!(call.subscribe.unwrap().framework_info.user, "u");
        assert!(
            decode(b"{", Format::Json)
                .unwrap_err()
                .starts_with("Failed to parse body into JSON")
        );
        assert!(
            decode(br#"{"type":"SUBSCRIBE","subscribe":{}}"#, Format::Json)
                .unwrap_err()
                .starts_with("Failed to convert JSON into Call protobuf")
        );
        // Truncated protobuf: a length prefix longer than what follows.
        assert!(
            decode(&[0x1a, 0x10, 0x0a], Format::Protobuf)
                .unwrap_err()
                .starts_with("Failed to parse body into Call protobuf")
        );
    }
}
