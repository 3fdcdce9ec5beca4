//! A minimal client of the agent's v1 executor API: calls are POSTs of a
//! protobuf `Call`; SUBSCRIBE answers with a RecordIO stream of `Event`s.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use mesos::wire::mesos::v1::executor::{Call, Event};
use mesos::wire::recordio;
use prost::Message;
use tokio::net::TcpStream;

const PROTOBUF: &str = "application/x-protobuf";

/// The largest event the executor accepts.
const MAX_EVENT: usize = 64 * 1024 * 1024;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The connection could not be made or broke.
    #[error("connection to agent failed: {0}")]
    Connection(String),
    /// The agent answered with an unexpected status.
    #[error("agent answered {status}: {body}")]
    Status {
        /// The HTTP status.
        status: StatusCode,
        /// The response text, for the log.
        body: String,
    },
    /// The event stream held a malformed record.
    #[error("malformed event stream: {0}")]
    Decode(String),
}

/// Where the agent's executor API is.
#[derive(Debug, Clone)]
pub struct AgentEndpoint {
    /// The agent's address.
    pub address: SocketAddr,
    /// The request path, `/<agent process id>/api/v1/executor`.
    pub path: String,
}

impl AgentEndpoint {
    async fn post(&self, call: &Call) -> Result<http::Response<Incoming>, ClientError> {
        let connection = |e: &dyn std::fmt::Display| ClientError::Connection(e.to_string());
        let stream = TcpStream::connect(self.address)
            .await
            .map_err(|e| connection(&e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| connection(&e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let request = Request::post(&self.path)
            .header(header::HOST, self.address.to_string())
            .header(header::CONTENT_TYPE, PROTOBUF)
            .header(header::ACCEPT, PROTOBUF)
            .body(Full::new(Bytes::from(call.encode_to_vec())))
            .map_err(|e| connection(&e))?;
        sender
            .send_request(request)
            .await
            .map_err(|e| connection(&e))
    }

    /// Sends a call that is answered `202 Accepted`.
    pub async fn send(&self, call: &Call) -> Result<(), ClientError> {
        let response = self.post(call).await?;
        let status = response.status();
        let body = response.into_body().collect().await.map(|b| b.to_bytes());
        if status != StatusCode::ACCEPTED {
            let body = body.map(|b| String::from_utf8_lossy(&b).into_owned());
            return Err(ClientError::Status {
                status,
                body: body.unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// Sends SUBSCRIBE and returns the event stream.
    pub async fn subscribe(&self, call: &Call) -> Result<EventStream, ClientError> {
        let response = self.post(call).await?;
        let status = response.status();
        if status != StatusCode::OK {
            let body = response.into_body().collect().await.map(|b| b.to_bytes());
            let body = body.map(|b| String::from_utf8_lossy(&b).into_owned());
            return Err(ClientError::Status {
                status,
                body: body.unwrap_or_default(),
            });
        }
        Ok(EventStream {
            body: response.into_body(),
            decoder: recordio::Decoder::new(MAX_EVENT),
            ready: Default::default(),
        })
    }
}

/// The events of one subscription.
pub struct EventStream {
    body: Incoming,
    decoder: recordio::Decoder,
    ready: std::collections::VecDeque<Vec<u8>>,
}

impl EventStream {
    /// The next event; `None` when the agent closed the stream.
    ///
    /// Cancel safe: a frame read is buffered before it is decoded.
    pub async fn next(&mut self) -> Option<Result<Event, ClientError>> {
        loop {
            if let Some(record) = self.ready.pop_front() {
                return Some(
                    Event::decode(record.as_slice())
                        .map_err(|e| ClientError::Decode(e.to_string())),
                );
            }
            match self.body.frame().await? {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        match self.decoder.feed(&data) {
                            Ok(records) => self.ready.extend(records),
                            Err(e) => return Some(Err(ClientError::Decode(e.to_string()))),
                        }
                    }
                }
                Err(e) => return Some(Err(ClientError::Connection(e.to_string()))),
            }
        }
    }
}
