//! HTTP bodies: whole responses and streams (the scheduler's event stream).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::sync::mpsc;

/// A response body: whole, or streamed from a [`BodySender`].
pub struct Body {
    kind: Kind,
}

enum Kind {
    Full(Option<Bytes>),
    Channel(mpsc::UnboundedReceiver<Bytes>),
    Bounded(mpsc::Receiver<Bytes>),
}

impl Body {
    /// A body of `bytes`.
    pub fn full(bytes: impl Into<Bytes>) -> Body {
        let bytes = bytes.into();
        Body {
            kind: Kind::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// No body.
    pub fn empty() -> Body {
        Body {
            kind: Kind::Full(None),
        }
    }

    /// A streamed body and the sender that feeds it; the body ends when the
    /// sender is dropped.
    pub fn channel() -> (BodySender, Body) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (
            BodySender { sender },
            Body {
                kind: Kind::Channel(receiver),
            },
        )
    }

    /// A streamed body fed through a bounded channel: the sender waits
    /// while the client is slow (a large file download).
    pub fn bounded(receiver: mpsc::Receiver<Bytes>) -> Body {
        Body {
            kind: Kind::Bounded(receiver),
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.get_mut().kind {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Channel(receiver) => receiver
                .poll_recv(cx)
                .map(|chunk| chunk.map(|b| Ok(Frame::data(b)))),
            Kind::Bounded(receiver) => receiver
                .poll_recv(cx)
                .map(|chunk| chunk.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.kind, Kind::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            Kind::Channel(_) | Kind::Bounded(_) => SizeHint::default(),
        }
    }
}

/// Feeds a streamed [`Body`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct BodySender {
    sender: mpsc::UnboundedSender<Bytes>,
}

impl BodySender {
    /// Queues `chunk`; false once the client has gone away.
    pub fn send(&self, chunk: impl Into<Bytes>) -> bool {
        self.sender.send(chunk.into()).is_ok()
    }

    /// Whether the client has gone away.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Completes when the client has gone away.
    pub async fn closed(&self) {
        self.sender.closed().await
    }
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadBodyError {
    /// Longer than the limit.
    #[error("request body exceeds {0} bytes")]
    TooLarge(usize),
    /// The connection failed while reading.
    #[error("failed to read request body: {0}")]
    Io(String),
}

/// Reads a whole request body of at most `limit` bytes.
pub async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, ReadBodyError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) => {
            if error.is::<http_body_util::LengthLimitError>() {
                Err(ReadBodyError::TooLarge(limit))
            } else {
                Err(ReadBodyError::Io(error.to_string()))
            }
        }
    }
}
