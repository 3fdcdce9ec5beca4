//! The sending side: one connection per peer address, opened on demand and
//! kept, messages written in order as libprocess frames them.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, oneshot};

use super::{Event, Transport, Upid};

/// How long to wait for a peer to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Batches of queued messages are written together up to this size.
const BATCH_BYTES: usize = 1 << 20;

pub(super) enum Outgoing {
    /// A framed message.
    Message { frame: Vec<u8> },
    /// Notify `linker` when the connection to `linked` breaks.
    Link { linker: String, linked: Upid },
}

/// The queue to one peer's connection task.
#[derive(Clone)]
pub(super) struct Peer {
    queue: mpsc::UnboundedSender<Outgoing>,
}

impl Peer {
    pub(super) fn start(transport: Transport, address: SocketAddr) -> Peer {
        let (queue, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(transport, address, receiver));
        Peer { queue }
    }

    pub(super) fn send(&self, outgoing: Outgoing) {
        // The task lives as long as the transport; a failed send means the
        // runtime is shutting down.
        let _ = self.queue.send(outgoing);
    }
}

/// Frames a message exactly as libprocess does: chunked body in one chunk,
/// an empty `Host`, both sender headers.
pub(super) fn frame(from: &Upid, to: &Upid, name: &str, body: &[u8]) -> Vec<u8> {
    let mut frame = format!(
        "POST /{}/{} HTTP/1.1\r\nUser-Agent: libprocess/{from}\r\nLibprocess-From: {from}\r\n\
         Connection: Keep-Alive\r\nHost: \r\n",
        to.id, name
    )
    .into_bytes();
    if body.is_empty() {
        frame.extend_from_slice(b"\r\n");
    } else {
        frame.extend_from_slice(
            format!("Transfer-Encoding: chunked\r\n\r\n{:x}\r\n", body.len()).as_bytes(),
        );
        frame.extend_from_slice(body);
        frame.extend_from_slice(b"\r\n0\r\n\r\n");
    }
    frame
}

struct Connection {
    writer: OwnedWriteHalf,
    /// Fires when the peer closes the connection or it fails.
    closed: oneshot::Receiver<()>,
}

async fn connect(address: SocketAddr) -> std::io::Result<Connection> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    let _ = stream.set_nodelay(true);
    let (mut reader, writer) = stream.into_split();
    let (closed_sender, closed) = oneshot::channel();
    // The peer's `202 Accepted` answers carry nothing we need: drain them
    // and watch for the connection ending.
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 4096];
        while let Ok(n) = reader.read(&mut buffer).await {
            if n == 0 {
                break;
            }
        }
        let _ = closed_sender.send(());
    });
    Ok(Connection { writer, closed })
}

async fn run(
    transport: Transport,
    address: SocketAddr,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
) {
    let mut connection: Option<Connection> = None;
    let mut links: Vec<(String, Upid)> = Vec::new();
    loop {
        let first = match &mut connection {
            Some(open) => tokio::select! {
                item = queue.recv() => item,
                _ = &mut open.closed => {
                    tracing::debug!("Connection to {address} closed");
                    connection = None;
                    exited(&transport, &mut links);
                    continue;
                }
            },
            None => queue.recv().await,
        };
        let Some(first) = first else { return };
        let mut batch = Vec::new();
        let mut take = |outgoing: Outgoing, batch: &mut Vec<u8>| match outgoing {
            Outgoing::Message { frame } => batch.extend_from_slice(&frame),
            Outgoing::Link { linker, linked } => links.push((linker, linked)),
        };
        take(first, &mut batch);
        while batch.len() < BATCH_BYTES {
            match queue.try_recv() {
                Ok(more) => take(more, &mut batch),
                Err(_) => break,
            }
        }
        if connection.is_none() {
            match connect(address).await {
                Ok(open) => connection = Some(open),
                Err(error) => {
                    tracing::debug!("Failed to connect to {address}: {error}");
                    exited(&transport, &mut links);
                    continue;
                }
            }
        }
        if batch.is_empty() {
            continue;
        }
        if let Some(open) = &mut connection
            && let Err(error) = open.writer.write_all(&batch).await
        {
            tracing::debug!("Failed to send to {address}: {error}");
            connection = None;
            exited(&transport, &mut links);
        }
    }
}

fn exited(transport: &Transport, links: &mut Vec<(String, Upid)>) {
    for (linker, linked) in links.drain(..) {
        transport.deliver(&linker, Event::Exited(linked));
    }
}
