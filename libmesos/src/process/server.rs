//! The listening side: libprocess messages to mailboxes, other requests to
//! the routed HTTP handlers.

use std::convert::Infallible;

use http::{Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::{Body, Event, Message, Transport, Upid, read_body};

/// The largest libprocess message body accepted. Registry-sized messages
/// (an agent re-registering with thousands of tasks) stay well below it.
const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

pub(super) async fn serve(transport: Transport, listener: TcpListener) {
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!("Failed to accept connection: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let transport = transport.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let transport = transport.clone();
                async move { Ok::<_, Infallible>(handle(transport, request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .pipeline_flush(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(transport: Transport, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_string();
    let (id, rest) = split_path(&path);
    if request.method() == Method::POST
        && let Some(from) = libprocess_sender(&request)
    {
        return deliver(&transport, request, from, id, rest).await;
    }
    if let Some(handler) = transport.handler(&id) {
        let rest = if rest.is_empty() {
            "/".to_string()
        } else {
            rest
        };
        return handler.handle(request, rest).await;
    }
    if let Some(handler) = transport.delegate_handler() {
        return handler.handle(request, path).await;
    }
    respond(StatusCode::NOT_FOUND, "")
}

/// The sender of a libprocess message, or `None` when `request` is a plain
/// HTTP request. A POST is a message when it carries `Libprocess-From` or a
/// `User-Agent: libprocess/...`.
fn libprocess_sender(request: &Request<Incoming>) -> Option<Result<Upid, ()>> {
    let headers = request.headers();
    let from = headers.get("libprocess-from").and_then(|v| v.to_str().ok());
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .filter(|agent| agent.starts_with("libprocess/"));
    if from.is_none() && agent.is_none() {
        return None;
    }
    Some(Upid::from_headers(from, agent).ok_or(()))
}

async fn deliver(
    transport: &Transport,
    request: Request<Incoming>,
    from: Result<Upid, ()>,
    id: String,
    rest: String,
) -> Response<Body> {
    let Ok(from) = from else {
        return respond(StatusCode::BAD_REQUEST, "Malformed libprocess sender");
    };
    let name = rest.trim_start_matches('/').to_string();
    if name.is_empty() || name.contains('/') {
        return respond(StatusCode::BAD_REQUEST, "Malformed message name");
    }
    if !transport.has_process(&id) {
        return respond(StatusCode::NOT_FOUND, "");
    }
    let body = match read_body(request.into_body(), MAX_MESSAGE_BYTES).await {
        Ok(body) => body,
        Err(error) => return respond(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    let message = Message {
        from,
        to: id.clone(),
        name,
        body,
    };
    if transport.deliver(&id, Event::Message(message)) {
        respond(StatusCode::ACCEPTED, "")
    } else {
        respond(StatusCode::NOT_FOUND, "")
    }
}

/// Splits `/<id>/<rest>` into the percent-decoded id and `/<rest>`.
fn split_path(path: &str) -> (String, String) {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let (id, rest) = match trimmed.find('/') {
        Some(at) => (&trimmed[..at], &trimmed[at..]),
        None => (trimmed, ""),
    };
    (percent_decode(id), rest.to_string())
}

/// Decodes `%XX` escapes (clients write `slave%281%29` for `slave(1)`).
pub(super) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

/// A response with a plain-text body.
pub fn respond(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(Body::full(text.to_string()));
    *response.status_mut() = status;
    if !text.is_empty() {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_decodes() {
        assert_eq!(
            split_path("/master/mesos.internal.PingSlaveMessage"),
            ("master".into(), "/mesos.internal.PingSlaveMessage".into())
        );
        assert_eq!(
            split_path("/slave%281%29/state"),
            ("slave(1)".into(), "/state".into())
        );
        assert_eq!(split_path("/health"), ("health".into(), "".into()));
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
