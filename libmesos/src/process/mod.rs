//! The libprocess transport: messages between processes over HTTP/1.1.
//!
//! A libprocess instance listens on one `ip:port` and hosts processes named
//! by id (`master`, `slave(1)`, `scheduler-<uuid>`). A message to
//! `id@ip:port` is an HTTP `POST /<id>/<message-name>` whose body is the
//! serialized protobuf and whose `Libprocess-From` header names the sender
//! (older peers: `User-Agent: libprocess/<upid>`). The receiver answers
//! `202 Accepted` and replies, if at all, with a POST of its own on a
//! connection it opens to the sender's address. The same port serves plain
//! HTTP endpoints (`/master/state`, `/api/v1/scheduler`): a request that is
//! not a message goes to the handler routed for its first path segment, or
//! to the delegate process for unprefixed paths.
//!
//! - [`Transport`]: bind, host processes ([`Transport::spawn`]), route HTTP
//!   ([`Transport::route`]), send ([`Transport::send`]) and watch peers
//!   ([`Transport::link`]).
//! - [`Body`]: response bodies, whole or streamed.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use mesos::process::{BindConfig, Event, Transport};
//! let transport = Transport::bind(&BindConfig::loopback(0)).await?;
//! let mut mailbox = transport.spawn("master");
//! while let Some(Event::Message(message)) = mailbox.recv().await {
//!     println!("{} from {}", message.name, message.from);
//! }
//! # Ok(()) }
//! ```

mod body;
mod outbound;
mod server;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub use crate::upid::Upid;
pub use body::{Body, BodySender, ReadBodyError, read_body};
pub use server::respond;

/// One libprocess message, as received.
#[derive(Debug, Clone)]
pub struct Message {
    /// The sender, from `Libprocess-From` (or the libprocess `User-Agent`).
    pub from: Upid,
    /// The receiving process id (first path segment).
    pub to: String,
    /// The message name, the protobuf's full type name for Mesos messages
    /// (`mesos.internal.RegisterSlaveMessage`).
    pub name: String,
    /// The serialized protobuf.
    pub body: Bytes,
}

/// What a process's mailbox receives.
#[derive(Debug, Clone)]
pub enum Event {
    /// A message posted to this process.
    Message(Message),
    /// The connection to a linked peer broke (or could not be made).
    Exited(Upid),
}

/// A response future of an [`HttpHandler`].
pub type ResponseFuture = Pin<Box<dyn Future<Output = http::Response<Body>> + Send>>;

/// Serves the plain HTTP endpoints of one process.
pub trait HttpHandler: Send + Sync + 'static {
    /// Handles `request`; `path` is its path without the `/<id>` prefix
    /// (`/state`, `/api/v1/scheduler`), or the whole path when the request
    /// reached this process as the delegate.
    fn handle(&self, request: http::Request<hyper::body::Incoming>, path: String)
    -> ResponseFuture;
}

/// Where to listen and what address to advertise to peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindConfig {
    /// The address to bind.
    pub ip: IpAddr,
    /// The port to bind; 0 picks a free one.
    pub port: u16,
    /// The IP peers should use, when not the bound one (NAT, containers).
    pub advertise_ip: Option<IpAddr>,
    /// The port peers should use, when not the bound one.
    pub advertise_port: Option<u16>,
}

impl BindConfig {
    /// Listens on 127.0.0.1:`port`.
    pub fn loopback(port: u16) -> Self {
        BindConfig {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
            advertise_ip: None,
            advertise_port: None,
        }
    }

    /// Combines the daemons' `--ip`, `--port`, `--advertise_ip` and
    /// `--advertise_port` flags with libprocess's environment variables
    /// (`LIBPROCESS_IP`, `LIBPROCESS_PORT`, `LIBPROCESS_ADVERTISE_IP`,
    /// `LIBPROCESS_ADVERTISE_PORT`); flags win, then the environment, then
    /// 0.0.0.0 and `default_port`. Unparsable environment values are
    /// ignored with a warning.
    pub fn resolve(
        ip: Option<IpAddr>,
        port: Option<u16>,
        advertise_ip: Option<IpAddr>,
        advertise_port: Option<u16>,
        default_port: u16,
    ) -> Self {
        Self::resolve_with(
            ip,
            port,
            advertise_ip,
            advertise_port,
            default_port,
            |name| std::env::var(name).ok(),
        )
    }

    /// [`BindConfig::resolve`] with the environment given as a lookup.
    pub fn resolve_with(
        ip: Option<IpAddr>,
        port: Option<u16>,
        advertise_ip: Option<IpAddr>,
        advertise_port: Option<u16>,
        default_port: u16,
        env: impl Fn(&str) -> Option<String>,
    ) -> Self {
        fn from_env<T: std::str::FromStr>(
            env: &impl Fn(&str) -> Option<String>,
            name: &str,
        ) -> Option<T> {
            let text = env(name)?;
            match text.trim().parse() {
                Ok(value) => Some(value),
                Err(_) => {
                    tracing::warn!("Ignoring {name}={text:?}: not a valid value");
                    None
                }
            }
        }
        BindConfig {
            ip: ip
                .or_else(|| from_env(&env, "LIBPROCESS_IP"))
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            port: port
                .or_else(|| from_env(&env, "LIBPROCESS_PORT"))
                .unwrap_or(default_port),
            advertise_ip: advertise_ip.or_else(|| from_env(&env, "LIBPROCESS_ADVERTISE_IP")),
            advertise_port: advertise_port.or_else(|| from_env(&env, "LIBPROCESS_ADVERTISE_PORT")),
        }
    }
}

/// A libprocess instance: one listening socket hosting many processes.
/// Cheap to clone; all clones share the instance.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

struct Inner {
    /// The address peers reach us at (advertised).
    address: SocketAddr,
    /// The address actually bound.
    bound: SocketAddr,
    /// Mailboxes of the processes hosted here, by id.
    mailboxes: RwLock<HashMap<String, mpsc::UnboundedSender<Event>>>,
    /// HTTP handlers by process id.
    routes: RwLock<HashMap<String, Arc<dyn HttpHandler>>>,
    /// The process that serves unprefixed paths.
    delegate: RwLock<Option<String>>,
    /// Outbound connections, one per peer address.
    peers: Mutex<HashMap<SocketAddr, outbound::Peer>>,
    /// What the processes here publish on `/metrics/snapshot`.
    metrics: crate::metrics::Metrics,
}

impl Transport {
    /// Binds `config` and starts serving on it.
    pub async fn bind(config: &BindConfig) -> std::io::Result<Transport> {
        let listener = TcpListener::bind((config.ip, config.port)).await?;
        let bound = listener.local_addr()?;
        let ip = config.advertise_ip.unwrap_or_else(|| {
            if bound.ip().is_unspecified() {
                default_advertise_ip()
            } else {
                bound.ip()
            }
        });
        let address = SocketAddr::new(ip, config.advertise_port.unwrap_or(bound.port()));
        let transport = Transport {
            inner: Arc::new(Inner {
                address,
                bound,
                mailboxes: RwLock::default(),
                routes: RwLock::default(),
                delegate: RwLock::default(),
                peers: Mutex::default(),
                metrics: crate::metrics::Metrics::new(),
            }),
        };
        transport.route(
            "metrics",
            Arc::new(crate::metrics::MetricsApi::new(transport.metrics().clone())),
        );
        tokio::spawn(server::serve(transport.clone(), listener));
        Ok(transport)
    }

    /// The address peers reach this instance at.
    pub fn address(&self) -> SocketAddr {
        self.inner.address
    }

    /// The address actually bound (differs from [`Transport::address`] when
    /// advertising another, or when bound to 0.0.0.0).
    pub fn bound_address(&self) -> SocketAddr {
        self.inner.bound
    }

    /// The metrics the processes of this instance publish (libprocess's
    /// `metrics` process: `/metrics/snapshot`).
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.inner.metrics
    }

    /// The UPID of process `id` on this instance.
    pub fn upid(&self, id: &str) -> Upid {
        Upid::new(id, self.inner.address)
    }

    /// Hosts process `id`: messages posted to `/<id>/<name>` arrive in the
    /// returned mailbox. Spawning an id again replaces its mailbox.
    pub fn spawn(&self, id: &str) -> mpsc::UnboundedReceiver<Event> {
        let (sender, receiver) = mpsc::unbounded_channel();
        write(&self.inner.mailboxes).insert(id.to_string(), sender);
        receiver
    }

    /// Stops hosting process `id`: later messages to it get `404`.
    pub fn terminate(&self, id: &str) {
        write(&self.inner.mailboxes).remove(id);
        write(&self.inner.routes).remove(id);
    }

    /// Sends plain HTTP requests for `/<id>/...` to `handler`.
    pub fn route(&self, id: &str, handler: Arc<dyn HttpHandler>) {
        write(&self.inner.routes).insert(id.to_string(), handler);
    }

    /// Makes process `id` serve the paths no process claims (`/state`
    /// on the master is `/master/state`).
    pub fn delegate(&self, id: &str) {
        *write(&self.inner.delegate) = Some(id.to_string());
    }

    /// Sends a message, fire and forget: in order per peer, on a connection
    /// this instance opens and keeps. A message to an unreachable peer is
    /// dropped (libprocess semantics: senders retry where it matters).
    pub fn send(&self, from: &Upid, to: &Upid, name: &str, body: Bytes) {
        self.peer(to.address).send(outbound::Outgoing::Message {
            frame: outbound::frame(from, to, name, &body),
        });
    }

    /// Sends a protobuf message under its full type name.
    pub fn send_message<M>(&self, from: &Upid, to: &Upid, message: &M)
    where
        M: prost::Message + prost_reflect::ReflectMessage,
    {
        let name = message.descriptor().full_name().to_string();
        self.send(from, to, &name, Bytes::from(message.encode_to_vec()));
    }

    /// Watches `to` on behalf of local process `from`: when the connection
    /// to `to`'s address breaks (or cannot be made), `from` gets
    /// [`Event::Exited`]. One notification per link.
    pub fn link(&self, from: &Upid, to: &Upid) {
        self.peer(to.address).send(outbound::Outgoing::Link {
            linker: from.id.clone(),
            linked: to.clone(),
        });
    }

    fn peer(&self, address: SocketAddr) -> outbound::Peer {
        let mut peers = self.inner.peers.lock().unwrap_or_else(|e| e.into_inner());
        peers
            .entry(address)
            .or_insert_with(|| outbound::Peer::start(self.clone(), address))
            .clone()
    }

    fn deliver(&self, id: &str, event: Event) -> bool {
        match read(&self.inner.mailboxes).get(id) {
            Some(mailbox) => mailbox.send(event).is_ok(),
            None => false,
        }
    }

    fn has_process(&self, id: &str) -> bool {
        read(&self.inner.mailboxes).contains_key(id)
    }

    fn handler(&self, id: &str) -> Option<Arc<dyn HttpHandler>> {
        read(&self.inner.routes).get(id).cloned()
    }

    fn delegate_handler(&self) -> Option<Arc<dyn HttpHandler>> {
        let id = read(&self.inner.delegate).clone()?;
        self.handler(&id)
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

/// The IP to advertise when bound to 0.0.0.0: the host name's first IPv4
/// address, as libprocess does, else loopback.
fn default_advertise_ip() -> IpAddr {
    use std::net::ToSocketAddrs;
    let hostname = hostname();
    (hostname.as_str(), 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.find(|a| a.is_ipv4()).map(|a| a.ip()))
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// This machine's host name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests;
