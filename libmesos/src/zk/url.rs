//! `zk://` URLs as Mesos writes them (`include/mesos/zookeeper/url.hpp`):
//!
//! - `zk://host1:2181,host2:2181/mesos`
//! - `zk://user:password@host1:2181/mesos`: `digest` credentials; nodes are
//!   then created readable by anyone and writable by their creator
//! - `file:///etc/mesos/zk`: a file holding one of the forms above
//!
//! The path is everything from the first `/` after the servers; it is a
//! prefix for the nodes Mesos creates, never a client chroot.

use std::fmt;

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// It does not start with `zk://` (or `file://`).
    #[error("Expecting 'zk://' at the beginning of the URL '{0}'")]
    Scheme(String),
    /// No servers between the scheme and the path.
    #[error("No ZooKeeper servers in URL '{0}'")]
    NoServers(String),
    /// A server that is not `host:port`.
    #[error("Invalid ZooKeeper server '{server}' in URL '{url}': expecting host:port")]
    Server {
        /// The offending entry.
        server: String,
        /// The whole URL.
        url: String,
    },
    /// The path is `/`: Mesos needs a node of its own.
    #[error(
        "Invalid ZooKeeper URL '{0}': the path '/' is not supported, give a znode such as /mesos"
    )]
    RootPath(String),
    /// Credentials that are not `user:password`.
    #[error("Invalid credentials in ZooKeeper URL '{0}': expecting user:password")]
    Credentials(String),
    /// A `file://` URL whose file cannot be read.
    #[error("Failed to read '{path}': {reason}")]
    File {
        /// The file.
        path: String,
        /// The I/O error.
        reason: String,
    },
}

/// A parsed `zk://` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct ZkUrl {
    /// `host:port,host:port`: what the ZooKeeper client connects to.
    pub servers: String,
    /// The znode under which the masters' nodes live, without a trailing
    /// `/` (`/mesos`).
    pub path: String,
    /// `user:password` for the `digest` scheme, if any.
    pub credentials: Option<String>,
}

impl fmt::Debug for ZkUrl {
    // The password stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZkUrl")
            .field("servers", &self.servers)
            .field("path", &self.path)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl fmt::Display for ZkUrl {
    /// The URL without its password (`zk://user:***@host:port/path`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.credentials {
            Some(credentials) => {
                let user = credentials.split(':').next().unwrap_or_default();
                write!(f, "zk://{user}:***@{}{}", self.servers, self.path)
            }
            None => write!(f, "zk://{}{}", self.servers, self.path),
        }
    }
}

impl ZkUrl {
    /// Parses `text`: a `zk://` URL, or a `file://` URL naming a file that
    /// holds one.
    pub fn parse(text: &str) -> Result<ZkUrl, UrlError> {
        let text = text.trim();
        if let Some(path) = text.strip_prefix("file://") {
            let contents = std::fs::read_to_string(path).map_err(|e| UrlError::File {
                path: path.to_string(),
                reason: e.to_string(),
            })?;
            let contents = contents.trim();
            if contents.starts_with("file://") {
                return Err(UrlError::Scheme(contents.to_string()));
            }
            return ZkUrl::parse(contents);
        }
        let Some(rest) = text.strip_prefix("zk://") else {
            return Err(UrlError::Scheme(text.to_string()));
        };
        let (authority, path) = match rest.find('/') {
            Some(index) => (&rest[..index], &rest[index..]),
            None => (rest, "/"),
        };
        // Credentials end at the last '@', as in Mesos.
        let (credentials, servers) = match authority.rfind('@') {
            Some(index) => (Some(&authority[..index]), &authority[index + 1..]),
            None => (None, authority),
        };
        if let Some(credentials) = credentials {
            match credentials.split_once(':') {
                Some((user, _)) if !user.is_empty() => {}
                _ => return Err(UrlError::Credentials(redact(text, credentials))),
            }
        }
        if servers.is_empty() {
            return Err(UrlError::NoServers(text.to_string()));
        }
        for server in servers.split(',') {
            let valid = server
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !valid {
                return Err(UrlError::Server {
                    server: server.to_string(),
                    url: match credentials {
                        Some(c) => redact(text, c),
                        None => text.to_string(),
                    },
                });
            }
        }
        let path = path.trim_end_matches('/');
        if path.is_empty() {
            return Err(UrlError::RootPath(text.to_string()));
        }
        if path.contains("//") {
            return Err(UrlError::Server {
                server: path.to_string(),
                url: text.to_string(),
            });
        }
        Ok(ZkUrl {
            servers: servers.to_string(),
            path: path.to_string(),
            credentials: credentials.map(str::to_string),
        })
    }

    /// Whether `text` names a ZooKeeper URL (rather than `host:port`):
    /// `zk://...`, or `file://...` whose file holds one.
    pub fn is_zk(text: &str) -> bool {
        let text = text.trim();
        text.starts_with("zk://")
            || text.strip_prefix("file://").is_some_and(|path| {
                std::fs::read_to_string(path).is_ok_and(|c| c.trim().starts_with("zk://"))
            })
    }
}

fn redact(url: &str, credentials: &str) -> String {
    url.replacen(credentials, "***", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_and_path() {
        let url = ZkUrl::parse("zk://10.0.0.1:2181,10.0.0.2:2181,10.0.0.3:2181/mesos").unwrap();
        assert_eq!(url.servers, "10.0.0.1:2181,10.0.0.2:2181,10.0.0.3:2181");
        assert_eq!(url.path, "/mesos");
        assert_eq!(url.credentials, None);
        assert_eq!(
            url.to_string(),
            "zk://10.0.0.1:2181,10.0.0.2:2181,10.0.0.3:2181/mesos"
        );
    }

    #[test]
    fn nested_path_and_trailing_slash() {
        let url = ZkUrl::parse("  zk://zk.example.com:2181/a/b/mesos/ \n").unwrap();
        assert_eq!(url.servers, "zk.example.com:2181");
        assert_eq!(url.path, "/a/b/mesos");
    }

    #[test]
    fn credentials_up_to_the_last_at() {
        let url = ZkUrl::parse("zk://jo:p@ss@host:2181/mesos").unwrap();
        assert_eq!(url.credentials.as_deref(), Some("jo:p@ss"));
        assert_eq!(url.servers, "host:2181");
        assert_eq!(url.to_string(), "zk://jo:***@host:2181/mesos");
        assert!(!format!("{url:?}").contains("p@ss"));
    }

    #[test]
    fn refused() {
        for (text, expect) in [
            ("http://host:2181/mesos", "Expecting 'zk://'"),
            ("host:2181/mesos", "Expecting 'zk://'"),
            ("zk:///mesos", "No ZooKeeper servers"),
            ("zk://host:2181", "'/' is not supported"),
            ("zk://host:2181/", "'/' is not supported"),
            ("zk://host/mesos", "Invalid ZooKeeper server 'host'"),
            (
                "zk://host:port/mesos",
                "Invalid ZooKeeper server 'host:port'",
            ),
            ("zk://h:1,,h:2/mesos", "Invalid ZooKeeper server ''"),
            ("zk://nopassword@host:2181/mesos", "Invalid credentials"),
            ("zk://:secret@host:2181/mesos", "Invalid credentials"),
            ("zk://host:2181//mesos", "Invalid ZooKeeper server"),
        ] {
            let error = ZkUrl::parse(text).unwrap_err().to_string();
            assert!(error.contains(expect), "{text}: {error}");
        }
        let error = ZkUrl::parse("zk://u:secret@host/mesos").unwrap_err();
        assert!(!error.to_string().contains("secret"), "{error}");
    }

    #[test]
    fn from_a_file() {
        let dir = std::env::temp_dir().join(format!("zk-url-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("zk");
        std::fs::write(&file, "zk://u:p@127.0.0.1:2181/mesos\n").unwrap();
        let text = format!("file://{}", file.display());
        assert!(ZkUrl::is_zk(&text));
        let url = ZkUrl::parse(&text).unwrap();
        assert_eq!(url.path, "/mesos");
        assert_eq!(url.credentials.as_deref(), Some("u:p"));
        std::fs::write(&file, "127.0.0.1:5050").unwrap();
        assert!(!ZkUrl::is_zk(&text));
        assert!(ZkUrl::parse(&text).is_err());
        let missing = format!("file://{}", dir.join("missing").display());
        let error = ZkUrl::parse(&missing).unwrap_err().to_string();
        assert!(error.starts_with("Failed to read"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(!ZkUrl::is_zk("127.0.0.1:5050"));
        assert!(ZkUrl::is_zk("zk://h:1/m"));
    }
}
