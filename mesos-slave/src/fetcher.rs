//! The fetcher: an executor's `CommandInfo.uris` into its sandbox before
//! it starts, as Mesos's `mesos-fetcher` does.
//!
//! - `http://` URIs are downloaded (redirects followed, a stalled
//!   transfer aborted after `--fetcher_stall_timeout`). The agent has no
//!   TLS of its own: `https://` URIs (and redirects to them) are handed
//!   to the `curl` program, and fail saying so where it is not installed.
//! - `file://` URIs and plain paths are copied; a relative path is taken
//!   under `--frameworks_home`.
//! - The file is named after the URI's last path segment, or
//!   `output_file` (which may name a subdirectory of the sandbox).
//! - `executable` makes it mode 0755 (and it is not extracted); else with
//!   `extract` (the default) archives are unpacked into the sandbox:
//!   `.tar`, `.tgz`, `.tar.gz`, `.tbz2`, `.tar.bz2`, `.txz`, `.tar.xz` with
//!   `tar`, `.zip` with `unzip`, a plain `.gz` with `gzip`.
//! - What happens is logged to the sandbox's `stderr`, as Mesos's
//!   fetcher logs there.
//!
//! URIs marked `cache` go through the fetcher cache ([`cache`]).

use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use mesos::wire::mesos as v0;
use tokio::io::AsyncWriteExt;

use crate::containerizer::LaunchSpec;

/// How many redirects a download follows.
const MAX_REDIRECTS: usize = 10;

/// The fetcher's flags.
#[derive(Debug, Clone, PartialEq)]
pub struct FetcherConfig {
    /// `--frameworks_home`: the base of relative URI paths.
    pub frameworks_home: Option<PathBuf>,
    /// `--fetcher_stall_timeout`: a download that receives nothing for
    /// this long fails.
    pub stall_timeout: Duration,
    /// `--fetcher_cache_dir` and `--fetcher_cache_size`; without them
    /// cached URIs are fetched directly.
    pub cache: Option<(PathBuf, u64)>,
}

impl Default for FetcherConfig {
    fn default() -> FetcherConfig {
        FetcherConfig {
            frameworks_home: None,
            stall_timeout: Duration::from_secs(60),
            cache: None,
        }
    }
}

/// Why a URI could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URI names no file (`http://host/`), or an unsupported scheme.
    #[error("{0}")]
    Invalid(String),
    /// A download failed.
    #[error("Failed to download '{uri}': {message}")]
    Download {
        /// The URI.
        uri: String,
        /// What went wrong.
        message: String,
    },
    /// A file could not be read, written or unpacked.
    #[error("{0}")]
    Io(String),
}

/// Fetches URIs into sandboxes.
#[derive(Debug, Clone, Default)]
pub struct Fetcher {
    config: FetcherConfig,
    cache: Option<std::sync::Arc<Cache>>,
    /// `containerizer/fetcher/task_fetches_{succeeded,failed}`: one per
    /// container's fetch, as in Mesos.
    fetches: std::sync::Arc<FetchCounts>,
}

#[derive(Debug, Default)]
struct FetchCounts {
    succeeded: std::sync::atomic::AtomicU64,
    failed: std::sync::atomic::AtomicU64,
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> FetchError {
    FetchError::Io(format!("{what} '{}': {e}", path.display()))
}

impl Fetcher {
    /// A fetcher with `config`.
    /// A fetcher with `config`; its cache directory, if any, is emptied.
    pub fn new(config: FetcherConfig) -> Fetcher {
        let cache = config
            .cache
            .as_ref()
            .map(|(dir, size)| std::sync::Arc::new(Cache::new(dir.clone(), *size)));
        Fetcher {
            config,
            cache,
            fetches: Default::default(),
        }
    }

    /// The `containerizer/fetcher/...` keys of `/metrics/snapshot`.
    pub fn metrics(&self, into: &mut Vec<(String, f64)>) {
        use std::sync::atomic::Ordering::Relaxed;
        into.push((
            "containerizer/fetcher/task_fetches_succeeded".into(),
            self.fetches.succeeded.load(Relaxed) as f64,
        ));
        into.push((
            "containerizer/fetcher/task_fetches_failed".into(),
            self.fetches.failed.load(Relaxed) as f64,
        ));
        let (total, used) = self
            .cache
            .as_ref()
            .map_or((0, 0), |cache| (cache.limit(), cache.size()));
        into.push((
            "containerizer/fetcher/cache_size_total_bytes".into(),
            total as f64,
        ));
        into.push((
            "containerizer/fetcher/cache_size_used_bytes".into(),
            used as f64,
        ));
    }

    /// Fetches every URI of the executor's command into its sandbox, in
    /// order; the first failure ends it.
    pub async fn fetch(&self, spec: &LaunchSpec) -> Result<(), FetchError> {
        for uri in &spec.command.uris {
            self.log(&spec.sandbox, &format!("Fetching URI '{}'", uri.value));
            match self
                .fetch_one(uri, &spec.sandbox, spec.command.user.as_deref())
                .await
            {
                Ok(path) => self.log(
                    &spec.sandbox,
                    &format!("Fetched '{}' to '{}'", uri.value, path.display()),
                ),
                Err(e) => {
                    self.log(
                        &spec.sandbox,
                        &format!("Failed to fetch '{}': {e}", uri.value),
                    );
                    self.fetches
                        .failed
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        self.fetches
            .succeeded
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Appends a line to the sandbox's `stderr`.
    fn log(&self, sandbox: &Path, line: &str) {
        tracing::info!(sandbox = %sandbox.display(), "{line}");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(sandbox.join("stderr"));
        if let Ok(mut file) = file {
            let _ = writeln!(file, "{line}");
        }
    }

    async fn fetch_one(
        &self,
        uri: &v0::command_info::Uri,
        sandbox: &Path,
        user: Option<&str>,
    ) -> Result<PathBuf, FetchError> {
        let value = uri.value.trim();
        let destination = sandbox.join(destination_name(value, uri.output_file.as_deref())?);
        if let Some(parent) = destination.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| io_error("Failed to create directory", parent, e))?;
        }
        match (&self.cache, uri.cache()) {
            (Some(cache), true) => self.fetch_cached(cache, value, &destination, user).await?,
            (None, true) => {
                tracing::warn!("No fetcher cache configured; fetching '{value}' directly");
                self.fetch_raw(value, &destination).await?;
            }
            (_, false) => self.fetch_raw(value, &destination).await?,
        }
        if uri.executable() {
            use std::os::unix::fs::PermissionsExt;
            tokio::fs::set_permissions(&destination, std::fs::Permissions::from_mode(0o755))
                .await
                .map_err(|e| io_error("Failed to chmod", &destination, e))?;
        } else if uri.extract() {
            extract(&destination, sandbox).await?;
        }
        Ok(destination)
    }

    /// Copies the cached download of `value` (fetching it into the cache
    /// first, if it is not there) to `destination`.
    async fn fetch_cached(
        &self,
        cache: &Cache,
        value: &str,
        destination: &Path,
        user: Option<&str>,
    ) -> Result<(), FetchError> {
        let key = cache::key(user, value);
        if let Some(cached) = cache.get(&key) {
            if copy(&cached, destination).await.is_ok() {
                tracing::info!("Fetched '{value}' from the cache ({})", cached.display());
                return Ok(());
            }
        }
        let name = destination_name(value, None)?;
        let name = name.to_string_lossy();
        let path = cache.new_path(user, &name);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| io_error("Failed to create directory", parent, e))?;
        }
        self.fetch_raw(value, &path).await?;
        let size = tokio::fs::metadata(&path)
            .await
            .map_err(|e| io_error("Failed to stat", &path, e))?
            .len();
        let copied = copy(&path, destination).await;
        if !cache.insert(&key, &path, size) {
            tracing::info!("'{value}' ({size} bytes) does not fit in the fetcher cache");
            let _ = tokio::fs::remove_file(&path).await;
        }
        copied
    }

    /// Gets `value` into `destination`, by its scheme.
    async fn fetch_raw(&self, value: &str, destination: &Path) -> Result<(), FetchError> {
        let destination = destination.to_path_buf();
        let destination = &destination;
        let lower = value.to_ascii_lowercase();
        if lower.starts_with("http://") {
            self.download(value, destination).await?;
        } else if lower.starts_with("https://") {
            self.curl(value, destination).await?;
        } else if let Some(path) = value.strip_prefix("file://") {
            copy(Path::new(path), destination).await?;
        } else if value.contains("://") {
            return Err(FetchError::Invalid(format!(
                "Cannot fetch '{value}': unsupported URI scheme"
            )));
        } else {
            let path = Path::new(value);
            let path = if path.is_absolute() {
                path.to_path_buf()
            } else {
                match &self.config.frameworks_home {
                    Some(home) => home.join(path),
                    None => {
                        return Err(FetchError::Invalid(format!(
                            "A relative path was passed for the resource '{value}' but the \
                             Mesos framework home was not specified. Please either provide \
                             this config option or avoid using a relative path"
                        )));
                    }
                }
            };
            copy(&path, destination).await?;
        }
        Ok(())
    }

    async fn download(&self, uri: &str, destination: &Path) -> Result<(), FetchError> {
        let fail = |message: String| FetchError::Download {
            uri: uri.to_string(),
            message,
        };
        let mut current: http::Uri = uri.parse().map_err(|e| fail(format!("invalid URI: {e}")))?;
        for _ in 0..=MAX_REDIRECTS {
            let response = self.get(&current).await.map_err(&fail)?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(http::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| fail(format!("redirect ({status}) without a Location")))?;
                current = resolve_location(&current, location).map_err(&fail)?;
                match current.scheme_str() {
                    Some("http") => continue,
                    Some("https") => return self.curl(&current.to_string(), destination).await,
                    _ => {
                        return Err(fail(format!(
                            "redirected to '{current}', which is not http"
                        )));
                    }
                }
            }
            if !status.is_success() {
                return Err(fail(format!(
                    "Error downloading resource, received HTTP return code {}",
                    status.as_u16()
                )));
            }
            let mut file = tokio::fs::File::create(destination)
                .await
                .map_err(|e| io_error("Failed to create", destination, e))?;
            let mut body = response.into_body();
            loop {
                let frame = tokio::time::timeout(self.config.stall_timeout, body.frame())
                    .await
                    .map_err(|_| {
                        fail(format!(
                            "no data for {}",
                            mesos::flags::format_duration(self.config.stall_timeout)
                        ))
                    })?;
                match frame {
                    None => break,
                    Some(Err(e)) => return Err(fail(e.to_string())),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            file.write_all(&data)
                                .await
                                .map_err(|e| io_error("Failed to write", destination, e))?;
                        }
                    }
                }
            }
            file.flush()
                .await
                .map_err(|e| io_error("Failed to write", destination, e))?;
            return Ok(());
        }
        Err(fail(format!("more than {MAX_REDIRECTS} redirects")))
    }

    /// Downloads `uri` with the `curl` program (for https): redirects
    /// followed, HTTP errors failing, a stalled transfer aborted.
    async fn curl(&self, uri: &str, destination: &Path) -> Result<(), FetchError> {
        let fail = |message: String| FetchError::Download {
            uri: uri.to_string(),
            message,
        };
        let stall = self.config.stall_timeout.as_secs().max(1).to_string();
        let output = tokio::process::Command::new("curl")
            .args(["--silent", "--show-error", "--fail", "--location"])
            .args(["--max-redirs", &MAX_REDIRECTS.to_string()])
            .args(["--speed-limit", "1", "--speed-time", &stall])
            .args(["--connect-timeout", &stall])
            .arg("--output")
            .arg(destination)
            .arg("--")
            .arg(uri)
            .stdin(std::process::Stdio::null())
            .output()
            .await;
        match output {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(fail(
                "https needs the curl program, which is not installed".into(),
            )),
            Err(e) => Err(fail(format!("cannot run curl: {e}"))),
            Ok(output) if !output.status.success() => Err(fail(format!(
                "curl {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))),
            Ok(_) => Ok(()),
        }
    }

    /// One GET over a fresh HTTP/1.1 connection.
    async fn get(&self, uri: &http::Uri) -> Result<http::Response<hyper::body::Incoming>, String> {
        let host = uri.host().ok_or("no host in URI")?.to_string();
        let port = uri.port_u16().unwrap_or(80);
        let connect = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port));
        let stream = tokio::time::timeout(self.config.stall_timeout, connect)
            .await
            .map_err(|_| format!("connecting to {host}:{port} timed out"))?
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let authority = uri.authority().map_or(host.clone(), |a| a.to_string());
        let request = http::Request::get(path)
            .header(http::header::HOST, authority)
            .header(http::header::USER_AGENT, "mesos-fetcher/1.11.0")
            .body(http_body_util::Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        tokio::time::timeout(self.config.stall_timeout, sender.send_request(request))
            .await
            .map_err(|_| "no response".to_string())?
            .map_err(|e| e.to_string())
    }
}

/// Where a `Location` header points, relative to `base`.
fn resolve_location(base: &http::Uri, location: &str) -> Result<http::Uri, String> {
    if location.contains("://") {
        return location
            .parse()
            .map_err(|e| format!("bad Location '{location}': {e}"));
    }
    let authority = base.authority().map(|a| a.as_str()).unwrap_or("");
    let path = if location.starts_with('/') {
        location.to_string()
    } else {
        let base_path = base.path();
        let dir = base_path.rsplit_once('/').map_or("", |(d, _)| d);
        format!("{dir}/{location}")
    };
    format!("http://{authority}{path}")
        .parse()
        .map_err(|e| format!("bad Location '{location}': {e}"))
}

/// The sandbox-relative name a URI is fetched to: `output_file`, else the
/// last segment of its path (without query). Neither may leave the
/// sandbox.
pub fn destination_name(uri: &str, output_file: Option<&str>) -> Result<PathBuf, FetchError> {
    let name = match output_file.filter(|o| !o.is_empty()) {
        Some(output) => PathBuf::from(output),
        None => {
            let without_query = uri.split(['?', '#']).next().unwrap_or(uri);
            let path = match without_query.split_once("://") {
                Some((_, rest)) if !without_query.starts_with("file://") => {
                    rest.split_once('/').map_or("", |(_, p)| p)
                }
                Some((_, rest)) => rest,
                None => without_query,
            };
            let base = path.rsplit('/').next().unwrap_or("");
            if base.is_empty() {
                return Err(FetchError::Invalid(format!(
                    "Cannot fetch '{uri}': it names no file (give an output_file)"
                )));
            }
            PathBuf::from(base)
        }
    };
    let escapes = name
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if escapes {
        return Err(FetchError::Invalid(format!(
            "Cannot fetch '{uri}' to '{}': the path must stay inside the sandbox",
            name.display()
        )));
    }
    Ok(name)
}

async fn copy(from: &Path, to: &Path) -> Result<(), FetchError> {
    if !from.exists() {
        return Err(FetchError::Io(format!(
            "Failed to copy '{}': No such file or directory",
            from.display()
        )));
    }
    tokio::fs::copy(from, to).await.map(|_| ()).map_err(|e| {
        FetchError::Io(format!(
            "Failed to copy '{}' to '{}': {e}",
            from.display(),
            to.display()
        ))
    })
}

/// How an archive is unpacked, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    /// `tar -xf` (compression detected by tar).
    Tar,
    /// `unzip`.
    Zip,
    /// `gzip -d` of a single file.
    Gzip,
}

/// The archive kind of a file name, if it is one Mesos extracts.
pub fn archive_kind(name: &str) -> Option<ArchiveKind> {
    let lower = name.to_ascii_lowercase();
    let tar = [
        ".tar", ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz",
    ];
    if tar.iter().any(|ext| lower.ends_with(ext)) {
        Some(ArchiveKind::Tar)
    } else if lower.ends_with(".zip") {
        Some(ArchiveKind::Zip)
    } else if lower.ends_with(".gz") {
        Some(ArchiveKind::Gzip)
    } else {
        None
    }
}

/// Unpacks `file` into `into` if its name says it is an archive.
async fn extract(file: &Path, into: &Path) -> Result<(), FetchError> {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let Some(kind) = archive_kind(name) else {
        return Ok(());
    };
    let mut command = match kind {
        ArchiveKind::Tar => {
            let mut c = tokio::process::Command::new("tar");
            c.arg("-C").arg(into).arg("-xf").arg(file);
            c
        }
        ArchiveKind::Zip => {
            let mut c = tokio::process::Command::new("unzip");
            c.arg("-o").arg("-q").arg("-d").arg(into).arg(file);
            c
        }
        ArchiveKind::Gzip => {
            // gzip -d replaces foo.gz by foo; keep the archive as Mesos does.
            let mut c = tokio::process::Command::new("gzip");
            c.arg("-d").arg("-k").arg("-f").arg(file);
            c
        }
    };
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| {
            FetchError::Io(format!(
                "Failed to run the extractor for '{}': {e}",
                file.display()
            ))
        })?;
    if !output.status.success() {
        return Err(FetchError::Io(format!(
            "Failed to extract '{}': {}: {}",
            file.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

pub mod cache;
#[cfg(test)]
mod tests;

use cache::Cache;
