//! `UPID`, the address of a libprocess process: `id@ip:port`, e.g.
//! `master@127.0.0.1:5050` or `slave(1)@10.0.0.5:5051`.
//!
//! A libprocess message to a UPID is an HTTP `POST /<id>/<message-name>` to
//! `ip:port`, whose `Libprocess-From` header names the sender's UPID.
//!
//! ```
//! use mesos::upid::Upid;
//! let pid: Upid = "slave(1)@127.0.0.1:5051".parse().unwrap();
//! assert_eq!(pid.id, "slave(1)");
//! assert_eq!(pid.to_string(), "slave(1)@127.0.0.1:5051");
//! assert_eq!(pid.message_path("mesos.internal.PingSlaveMessage"),
//!            "/slave(1)/mesos.internal.PingSlaveMessage");
//! ```

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// A libprocess process address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Upid {
    /// The process id within its libprocess instance (`master`,
    /// `slave(1)`, `scheduler-4f6c...`); never empty, never contains `@`
    /// or `/`.
    pub id: String,
    /// Where the instance listens.
    pub address: SocketAddr,
}

/// Why a text is not a UPID.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UpidError {
    /// Something other than `id@ip:port`.
    #[error("invalid UPID '{0}': expected id@ip:port")]
    Malformed(String),
}

impl Upid {
    /// A UPID for process `id` at `address`.
    pub fn new(id: impl Into<String>, address: SocketAddr) -> Self {
        Upid {
            id: id.into(),
            address,
        }
    }

    /// The HTTP path a message named `message` is posted to.
    pub fn message_path(&self, message: &str) -> String {
        format!("/{}/{}", self.id, message)
    }

    /// Parses the sender of a libprocess request from its headers: the
    /// `Libprocess-From` value, or the older `User-Agent: libprocess/<upid>`.
    pub fn from_headers(libprocess_from: Option<&str>, user_agent: Option<&str>) -> Option<Upid> {
        if let Some(from) = libprocess_from {
            return from.trim().parse().ok();
        }
        user_agent?.trim().strip_prefix("libprocess/")?.parse().ok()
    }
}

impl FromStr for Upid {
    type Err = UpidError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || UpidError::Malformed(text.chars().take(256).collect());
        let (id, rest) = text.rsplit_once('@').ok_or_else(bad)?;
        if id.is_empty()
            || id.contains('/')
            || id.contains('@')
            || id.chars().any(char::is_whitespace)
        {
            return Err(bad());
        }
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = host.parse().map_err(|_| bad())?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        Ok(Upid::new(id, SocketAddr::new(ip, port)))
    }
}

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.id, self.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for text in [
            "master@127.0.0.1:5050",
            "scheduler-1a2b@10.1.2.3:39000",
            "slave(1)@[::1]:5051",
        ] {
            let pid: Upid = text.parse().unwrap();
            assert_eq!(pid.to_string(), text);
        }
    }

    #[test]
    fn rejects_malformed() {
        for text in [
            "",
            "master",
            "@127.0.0.1:1",
            "m@127.0.0.1",
            "m@host:5050",
            "m@1.2.3.4:70000",
            "a/b@1.2.3.4:1",
            "a b@1.2.3.4:1",
        ] {
            assert!(text.parse::<Upid>().is_err(), "{text}");
        }
    }

    #[test]
    fn reads_either_sender_header() {
        let expected: Upid = "scheduler-1@127.0.0.1:4000".parse().unwrap();
        assert_eq!(
            Upid::from_headers(Some("scheduler-1@127.0.0.1:4000"), None),
            Some(expected.clone())
        );
        assert_eq!(
            Upid::from_headers(None, Some("libprocess/scheduler-1@127.0.0.1:4000")),
            Some(expected)
        );
        assert_eq!(Upid::from_headers(None, Some("curl/8.0")), None);
        assert_eq!(Upid::from_headers(Some("garbage"), None), None);
    }
}
