//! A client of the v1 scheduler HTTP API (`/api/v1/scheduler`), in
//! protobuf: what `mesos-execute` and the benchmark framework use.
//!
//! [`subscribe`] opens the event stream and returns a [`Scheduler`] to
//! send further calls with (on their own connection, carrying the
//! `Mesos-Stream-Id`) and the [`Events`] stream.

use std::collections::VecDeque;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use prost::Message as _;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::wire::mesos::v1::scheduler::{Call, Event};
use crate::wire::recordio;

/// The largest event accepted (offers from thousands of agents fit).
const MAX_EVENT_BYTES: usize = 256 * 1024 * 1024;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Could not reach the master.
    #[error("failed to connect to {0}: {1}")]
    Connect(SocketAddr, String),
    /// The HTTP exchange failed.
    #[error("HTTP error: {0}")]
    Http(String),
    /// The master refused the call.
    #[error("the master answered {status}: {body}")]
    Refused {
        /// The status.
        status: StatusCode,
        /// Its explanation.
        body: String,
    },
    /// The event stream is malformed.
    #[error("malformed event stream: {0}")]
    Stream(String),
    /// The master could not be found.
    #[error("failed to find the master: {0}")]
    Resolve(String),
}

async fn connect(master: SocketAddr) -> Result<SendRequest<Full<Bytes>>, ClientError> {
    let stream = TcpStream::connect(master)
        .await
        .map_err(|e| ClientError::Connect(master, e.to_string()))?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

fn request(master: SocketAddr, call: &Call, stream_id: Option<&str>) -> Request<Full<Bytes>> {
    let mut builder = Request::post("/api/v1/scheduler")
        .header(header::HOST, master.to_string())
        .header(header::CONTENT_TYPE, "application/x-protobuf")
        .header(header::ACCEPT, "application/x-protobuf");
    if let Some(id) = stream_id {
        builder = builder.header("Mesos-Stream-Id", id);
    }
    builder
        .body(Full::new(Bytes::from(call.encode_to_vec())))
        .expect("a request of valid parts")
}

/// How many `307`s [`subscribe`] follows (a non-leading master points
/// at the leader).
const MAX_REDIRECTS: usize = 3;

/// Resolves a master given as `host:port`, `master@host:port`, or
/// `zk://...` (the leader is looked up in ZooKeeper, waiting up to
/// `timeout` for one).
pub async fn resolve_master(
    master: &str,
    timeout: std::time::Duration,
) -> Result<SocketAddr, ClientError> {
    let master = master.trim();
    if crate::zk::ZkUrl::is_zk(master) {
        let url =
            crate::zk::ZkUrl::parse(master).map_err(|e| ClientError::Resolve(e.to_string()))?;
        let info = crate::zk::detector::detect_once(&url, timeout)
            .await
            .map_err(ClientError::Resolve)?;
        return crate::zk::master_upid(&info)
            .map(|pid| pid.address)
            .ok_or_else(|| ClientError::Resolve(format!("the leader at {url} has no address")));
    }
    let address = master.rsplit_once('@').map(|(_, a)| a).unwrap_or(master);
    resolve(address)
}

/// `host:port` to an address, IPv4 first (masters listen on IPv4).
fn resolve(address: &str) -> Result<SocketAddr, ClientError> {
    use std::net::ToSocketAddrs as _;
    let addresses: Vec<SocketAddr> = address
        .to_socket_addrs()
        .map_err(|e| ClientError::Resolve(format!("failed to resolve '{address}': {e}")))?
        .collect();
    addresses
        .iter()
        .find(|a| a.is_ipv4())
        .or(addresses.first())
        .copied()
        .ok_or_else(|| ClientError::Resolve(format!("failed to resolve '{address}'")))
}

/// Subscribes with `call` (a `SUBSCRIBE`), following redirects from
/// non-leading masters.
pub async fn subscribe(
    master: SocketAddr,
    call: &Call,
) -> Result<(Scheduler, Events), ClientError> {
    let mut master = master;
    let mut redirects = 0;
    let (sender, response) = loop {
        let mut sender = connect(master).await?;
        let response = sender
            .send_request(request(master, call, None))
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        if response.status() != StatusCode::TEMPORARY_REDIRECT || redirects == MAX_REDIRECTS {
            break (sender, response);
        }
        redirects += 1;
        // Location: //host:port/api/v1/scheduler
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let authority = location
            .trim_start_matches("http:")
            .trim_start_matches("https:")
            .trim_start_matches("//");
        let authority = authority.split('/').next().unwrap_or_default();
        tracing::info!("Redirected by {master} to the leading master at {authority}");
        master = resolve(authority)?;
    };
    if response.status() != StatusCode::OK {
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        return Err(ClientError::Refused {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    let stream_id = response
        .headers()
        .get("mesos-stream-id")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ClientError::Stream("no Mesos-Stream-Id header".into()))?
        .to_string();
    Ok((
        Scheduler {
            master,
            stream_id,
            calls: Mutex::new(None),
        },
        Events {
            body: response.into_body(),
            decoder: recordio::Decoder::new(MAX_EVENT_BYTES),
            ready: VecDeque::new(),
            _subscription: sender,
        },
    ))
}

/// Sends calls for a subscribed framework.
pub struct Scheduler {
    master: SocketAddr,
    stream_id: String,
    /// The connection calls go on, opened on first use and kept.
    calls: Mutex<Option<SendRequest<Full<Bytes>>>>,
}

impl Scheduler {
    /// The `Mesos-Stream-Id` of the subscription.
    pub fn stream_id(&self) -> &str {
        &self.stream_id
    }

    /// Sends `call`; Ok once the master accepted it (`202`).
    pub async fn call(&self, call: &Call) -> Result<(), ClientError> {
        let mut calls = self.calls.lock().await;
        for attempt in 0..2 {
            if calls.as_ref().is_none_or(|s| s.is_closed()) {
                *calls = Some(connect(self.master).await?);
            }
            let sender = calls.as_mut().expect("connected above");
            if sender.ready().await.is_err() {
                *calls = None;
                continue;
            }
            match sender
                .send_request(request(self.master, call, Some(&self.stream_id)))
                .await
            {
                Ok(response) => {
                    let status = response.status();
                    let body = response
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    if status == StatusCode::ACCEPTED {
                        return Ok(());
                    }
                    return Err(ClientError::Refused {
                        status,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                }
                Err(error) if attempt == 0 => {
                    tracing::debug!("Retrying call on a new connection: {error}");
                    *calls = None;
                }
                Err(error) => return Err(ClientError::Http(error.to_string())),
            }
        }
        Err(ClientError::Http("connection closed".into()))
    }
}

/// The event stream of a subscription.
pub struct Events {
    body: hyper::body::Incoming,
    decoder: recordio::Decoder,
    ready: VecDeque<Vec<u8>>,
    /// Keeps the subscription's connection open.
    _subscription: SendRequest<Full<Bytes>>,
}

impl Events {
    /// The next event; `None` when the master closed the stream.
    pub async fn next(&mut self) -> Option<Result<Event, ClientError>> {
        loop {
            if let Some(record) = self.ready.pop_front() {
                return Some(
                    Event::decode(record.as_slice())
                        .map_err(|e| ClientError::Stream(e.to_string())),
                );
            }
            let frame = match self.body.frame().await? {
                Ok(frame) => frame,
                Err(error) => return Some(Err(ClientError::Http(error.to_string()))),
            };
            if let Ok(data) = frame.into_data() {
                match self.decoder.feed(&data) {
                    Ok(records) => self.ready.extend(records),
                    Err(error) => return Some(Err(ClientError::Stream(error.to_string()))),
                }
            }
        }
    }
}
