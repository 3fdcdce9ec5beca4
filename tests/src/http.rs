//! A small HTTP/1.1 client for the tests: one connection per request, so
//! every request stands on its own and a misbehaving one cannot poison the
//! next.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one request may take before the test gives up on it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A complete response.
#[derive(Debug)]
pub struct Response {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl Response {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    ///
    /// # Panics
    /// When the body is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response body is not JSON ({e}): {}", self.text()))
    }

    /// A header's value as text, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends `method path` with `headers` and `body` to `addr` and reads the
/// whole response. `Host` is added; nothing else is.
pub async fn request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Result<Response, String> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, addr.to_string());
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder
        .body(Full::new(body.into()))
        .map_err(|e| format!("invalid request: {e}"))?;
    let exchange = async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake with {addr}: {e}"))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("request to {addr}: {e}"))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("reading body from {addr}: {e}"))?
            .to_bytes();
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer from {addr} within {REQUEST_TIMEOUT:?}"))?
}

/// `GET path`.
pub async fn get(addr: SocketAddr, path: &str) -> Result<Response, String> {
    request(addr, Method::GET, path, &[], Bytes::new()).await
}

/// `POST path` with `headers` and `body`.
pub async fn post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Result<Response, String> {
    request(addr, Method::POST, path, headers, body).await
}

/// Writes `bytes` as they are on a fresh connection and returns whatever
/// comes back until the peer closes it or goes quiet for a second: for
/// requests an HTTP library would refuse to send.
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> Result<Vec<u8>, String> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        stream
            .write_all(bytes)
            .await
            .map_err(|e| format!("write to {addr}: {e}"))?;
        let mut answer = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buffer)).await {
                Ok(Ok(0)) | Err(_) => return Ok(answer),
                Ok(Ok(n)) => answer.extend_from_slice(&buffer[..n]),
                Ok(Err(e)) if answer.is_empty() => return Err(format!("read from {addr}: {e}")),
                Ok(Err(_)) => return Ok(answer),
            }
        }
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer from {addr} within {REQUEST_TIMEOUT:?}"))?
}
