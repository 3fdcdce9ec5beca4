//! The `files` process: `/files/browse`, `/files/read`, `/files/download`
//! and `/files/debug`, serving the directories and files the agent
//! attaches under virtual paths, as Mesos's `Files` does.
//!
//! Each executor's sandbox is attached three times, as Mesos attaches it:
//! under its real path, under the real path of its `runs/latest` link, and
//! under the virtual `/frameworks/<fid>/executors/<eid>/runs/latest`. The
//! agent's log file is `/slave/log`. A request path resolves by its
//! longest attached prefix; what it names must stay inside what was
//! attached.
//!
//! One table per libprocess instance (the agents of `mesos-local` share
//! it, as they share Mesos's `files` process).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use http::{Response, StatusCode, header};
use mesos::process::{self, Body, HttpHandler, ResponseFuture};
use serde_json::{Value as Json, json};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// The virtual path of the agent's log.
pub const AGENT_LOG_VIRTUAL_PATH: &str = "/slave/log";

/// The most `/files/read` returns at once: 16 pages, as Mesos caps it.
const MAX_READ: u64 = 16 * 4096;

/// The virtual path Mesos gives an executor's latest run.
pub fn executor_virtual_path(framework_id: &str, executor_id: &str) -> String {
    format!("/frameworks/{framework_id}/executors/{executor_id}/runs/latest")
}

/// Attached paths: virtual path -> real path.
#[derive(Clone, Default)]
pub struct Files {
    paths: Arc<RwLock<BTreeMap<String, PathBuf>>>,
}

fn clean_virtual(path: &str) -> String {
    let path = path.strip_prefix("file://").unwrap_or(path);
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    }
}

/// Why [`Files::list`] or [`Files::read_at`] failed, as Mesos's
/// `FilesError` types it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilesError {
    /// The request is wrong (a path outside what is attached, a
    /// directory to read): `400`.
    Invalid(String),
    /// Nothing is there: `404`.
    NotFound,
    /// Reading failed: `500`.
    Unknown(String),
}

impl From<Resolve> for FilesError {
    fn from(error: Resolve) -> FilesError {
        match error {
            Resolve::NotFound => FilesError::NotFound,
            Resolve::Invalid(message) => FilesError::Invalid(format!("{message}.\n")),
        }
    }
}

/// One entry of a directory listing.
#[derive(Debug)]
pub struct Listed {
    /// The entry's virtual path.
    pub path: String,
    /// What `stat` says of it.
    pub metadata: std::fs::Metadata,
}

/// Why a path cannot be served.
#[derive(Debug, PartialEq, Eq)]
enum Resolve {
    /// Nothing attached (or on disk) there.
    NotFound,
    /// It points outside what was attached.
    Invalid(String),
}

impl Files {
    /// The table of the libprocess instance at `address`.
    pub fn shared(address: SocketAddr) -> Files {
        static TABLES: Mutex<Option<HashMap<SocketAddr, Files>>> = Mutex::new(None);
        let mut tables = TABLES.lock().unwrap_or_else(|e| e.into_inner());
        tables
            .get_or_insert_with(HashMap::new)
            .entry(address)
            .or_default()
            .clone()
    }

    /// Serves `real` (a file or directory) under `virtual_path`; fails
    /// when it does not exist or cannot be read.
    pub fn attach(&self, real: &Path, virtual_path: &str) -> std::io::Result<()> {
        let real = std::fs::canonicalize(real)?;
        std::fs::metadata(&real)?;
        let mut paths = self.paths.write().unwrap_or_else(|e| e.into_inner());
        paths.insert(clean_virtual(virtual_path), real);
        Ok(())
    }

    /// Stops serving `virtual_path`.
    pub fn detach(&self, virtual_path: &str) {
        let mut paths = self.paths.write().unwrap_or_else(|e| e.into_inner());
        paths.remove(&clean_virtual(virtual_path));
    }

    /// Attaches an executor's sandbox as Mesos does: its own path, its
    /// `runs/latest` path and the virtual path.
    pub fn attach_sandbox(&self, sandbox: &Path, framework_id: &str, executor_id: &str) {
        let latest = sandbox.parent().map(|runs| runs.join(crate::paths::LATEST));
        let mut virtual_paths = vec![
            sandbox.display().to_string(),
            executor_virtual_path(framework_id, executor_id),
        ];
        if let Some(latest) = latest {
            virtual_paths.push(latest.display().to_string());
        }
        for virtual_path in virtual_paths {
            if let Err(e) = self.attach(sandbox, &virtual_path) {
                tracing::warn!(
                    "Failed to attach '{}' to '{virtual_path}': {e}",
                    sandbox.display()
                );
            }
        }
    }

    fn resolve(&self, path: &str) -> Result<PathBuf, Resolve> {
        let path = clean_virtual(path);
        let paths = self.paths.read().unwrap_or_else(|e| e.into_inner());
        let mut prefix = path.as_str();
        loop {
            if let Some(base) = paths.get(prefix) {
                let suffix = path[prefix.len()..].trim_start_matches('/');
                if !base.is_dir() {
                    return if suffix.is_empty() {
                        Ok(base.clone())
                    } else {
                        Err(Resolve::NotFound)
                    };
                }
                let joined = base.join(suffix);
                let real = std::fs::canonicalize(&joined).map_err(|_| Resolve::NotFound)?;
                if !real.starts_with(base) {
                    return Err(Resolve::Invalid(format!(
                        "'{}' is inaccessible",
                        joined.display()
                    )));
                }
                return Ok(real);
            }
            prefix = match prefix.rfind('/') {
                _ if prefix == "/" => return Err(Resolve::NotFound),
                Some(0) => "/",
                Some(at) => &prefix[..at],
                None => return Err(Resolve::NotFound),
            };
        }
    }

    /// The entries of the directory at virtual `path`, each shown under
    /// `path`, sorted by real path (Mesos's `browse`).
    pub fn list(&self, path: &str) -> Result<Vec<Listed>, FilesError> {
        let requested = clean_virtual(path);
        let resolved = self.resolve(&requested).map_err(FilesError::from)?;
        let mut listing: BTreeMap<PathBuf, Listed> = BTreeMap::new();
        if let Ok(entries) = std::fs::read_dir(&resolved) {
            for entry in entries.flatten() {
                let full = entry.path();
                // stat, not lstat: links show what they point at.
                let Ok(metadata) = std::fs::metadata(&full) else {
                    continue;
                };
                let name = entry.file_name().to_string_lossy().into_owned();
                let shown = if requested == "/" {
                    format!("/{name}")
                } else {
                    format!("{requested}/{name}")
                };
                listing.insert(
                    full,
                    Listed {
                        path: shown,
                        metadata,
                    },
                );
            }
        }
        Ok(listing.into_values().collect())
    }

    /// Up to `length` bytes (all, when `None`; at most 16 pages) of the
    /// file at virtual `path` from `offset`, with the file's size
    /// (Mesos's `read`).
    pub async fn read_at(
        &self,
        path: &str,
        offset: u64,
        length: Option<u64>,
    ) -> Result<(u64, Vec<u8>), FilesError> {
        let resolved = self.resolve(path).map_err(FilesError::from)?;
        if resolved.is_dir() {
            return Err(FilesError::Invalid("Cannot read a directory.\n".into()));
        }
        let failed = |e: std::io::Error| {
            FilesError::Unknown(format!(
                "Failed to open file at '{}': {e}.\n",
                resolved.display()
            ))
        };
        let mut file = tokio::fs::File::open(&resolved).await.map_err(failed)?;
        let size = file.metadata().await.map_err(failed)?.len();
        if offset >= size {
            return Ok((size, Vec::new()));
        }
        let wanted = length.unwrap_or(size - offset).min(MAX_READ);
        let mut data = Vec::new();
        if wanted > 0 {
            file.seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(failed)?;
            (&mut file)
                .take(wanted)
                .read_to_end(&mut data)
                .await
                .map_err(failed)?;
        }
        Ok((size, data))
    }

    /// Whether anything is attached at exactly `virtual_path`.
    pub fn is_attached(&self, virtual_path: &str) -> bool {
        let paths = self.paths.read().unwrap_or_else(|e| e.into_inner());
        paths.contains_key(&clean_virtual(virtual_path))
    }

    /// Stops serving every virtual path whose real path is `real` or
    /// lies under it (a sandbox being removed).
    pub fn detach_under(&self, real: &Path) {
        let mut paths = self.paths.write().unwrap_or_else(|e| e.into_inner());
        paths.retain(|_, attached| !attached.starts_with(real));
    }

    fn debug(&self) -> Json {
        let paths = self.paths.read().unwrap_or_else(|e| e.into_inner());
        Json::Object(
            paths
                .iter()
                .map(|(v, r)| (v.clone(), json!(r.display().to_string())))
                .collect(),
        )
    }

    /// The HTTP handler to route as process `files`.
    pub fn handler(&self) -> Arc<dyn HttpHandler> {
        Arc::new(FilesHttp {
            files: self.clone(),
        })
    }
}

struct FilesHttp {
    files: Files,
}

/// Decodes a query value: `%XX` escapes and `+` for space.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query(path: &str) -> HashMap<String, String> {
    let Some((_, query)) = path.split_once('?') else {
        return HashMap::new();
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    process::respond(status, body)
}

/// A JSON answer, wrapped as `callback(...)` for `?jsonp=callback`.
fn json_ok(value: &Json, jsonp: Option<&String>) -> Response<Body> {
    let (body, media) = match jsonp {
        Some(callback) => (format!("{callback}({value});"), "text/javascript"),
        None => (value.to_string(), "application/json"),
    };
    let mut response = Response::new(Body::full(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(media),
    );
    response
}

fn resolve_error(error: Resolve) -> Response<Body> {
    match error {
        Resolve::NotFound => text(StatusCode::NOT_FOUND, ""),
        Resolve::Invalid(message) => text(StatusCode::BAD_REQUEST, &format!("{message}.\n")),
    }
}

/// `ls -l`'s mode string (`drwxr-xr-x`).
fn mode_string(mode: u32) -> String {
    let kind = match mode & libc::S_IFMT {
        libc::S_IFDIR => 'd',
        libc::S_IFCHR => 'c',
        libc::S_IFBLK => 'b',
        libc::S_IFIFO => 'p',
        libc::S_IFLNK => 'l',
        libc::S_IFSOCK => 's',
        _ => '-',
    };
    let mut text = String::from(kind);
    for (bit, c) in [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o040, 'r'),
        (0o020, 'w'),
        (0o010, 'x'),
        (0o004, 'r'),
        (0o002, 'w'),
        (0o001, 'x'),
    ] {
        text.push(if mode & bit != 0 { c } else { '-' });
    }
    text
}

/// The name of user `uid` (or the number).
pub(crate) fn user_name(uid: u32) -> String {
    let mut buffer = vec![0 as libc::c_char; 4096];
    // SAFETY: getpwuid_r writes into the passwd struct and buffer given,
    // whose sizes are passed; the name is copied before they go.
    unsafe {
        let mut entry: libc::passwd = std::mem::zeroed();
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        if libc::getpwuid_r(
            uid,
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        ) == 0
            && !found.is_null()
            && !entry.pw_name.is_null()
        {
            return std::ffi::CStr::from_ptr(entry.pw_name)
                .to_string_lossy()
                .into_owned();
        }
    }
    uid.to_string()
}

/// The name of group `gid` (or the number).
pub(crate) fn group_name(gid: u32) -> String {
    let mut buffer = vec![0 as libc::c_char; 4096];
    // SAFETY: as in user_name, with getgrgid_r.
    unsafe {
        let mut entry: libc::group = std::mem::zeroed();
        let mut found: *mut libc::group = std::ptr::null_mut();
        if libc::getgrgid_r(
            gid,
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        ) == 0
            && !found.is_null()
            && !entry.gr_name.is_null()
        {
            return std::ffi::CStr::from_ptr(entry.gr_name)
                .to_string_lossy()
                .into_owned();
        }
    }
    gid.to_string()
}

/// Mesos's `FileInfo` model of a file shown as `path`.
fn file_json(path: &str, metadata: &std::fs::Metadata) -> Json {
    use std::os::unix::fs::MetadataExt;
    json!({
        "path": path,
        "nlink": metadata.nlink(),
        "size": metadata.size(),
        "mtime": metadata.mtime(),
        "mode": mode_string(metadata.mode()),
        "uid": user_name(metadata.uid()),
        "gid": group_name(metadata.gid()),
    })
}

impl FilesHttp {
    fn browse(&self, params: &HashMap<String, String>) -> Response<Body> {
        let Some(path) = params.get("path").filter(|p| !p.is_empty()) else {
            return text(
                StatusCode::BAD_REQUEST,
                "Expecting 'path=value' in query.\n",
            );
        };
        match self.files.list(path) {
            Ok(listing) => json_ok(
                &Json::Array(
                    listing
                        .iter()
                        .map(|l| file_json(&l.path, &l.metadata))
                        .collect(),
                ),
                params.get("jsonp"),
            ),
            Err(FilesError::NotFound) => text(StatusCode::NOT_FOUND, ""),
            Err(FilesError::Invalid(m) | FilesError::Unknown(m)) => {
                text(StatusCode::BAD_REQUEST, &m)
            }
        }
    }

    async fn read(&self, params: &HashMap<String, String>) -> Response<Body> {
        let Some(path) = params.get("path").filter(|p| !p.is_empty()) else {
            return text(
                StatusCode::BAD_REQUEST,
                "Expecting 'path=value' in query.\n",
            );
        };
        let offset: i64 = match params.get("offset") {
            None => -1,
            Some(v) => match v.trim().parse::<i64>() {
                Ok(o) if o < -1 => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        &format!("Negative offset provided: {o}.\n"),
                    );
                }
                Ok(o) => o,
                Err(e) => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        &format!("Failed to parse offset: {e}.\n"),
                    );
                }
            },
        };
        let mut length: Option<u64> = match params.get("length") {
            None => None,
            Some(v) => match v.trim().parse::<i64>() {
                Ok(l) if l < -1 => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        &format!("Negative length provided: {l}.\n"),
                    );
                }
                Ok(-1) => None,
                Ok(l) => Some(l as u64),
                Err(e) => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        &format!("Failed to parse length: {e}.\n"),
                    );
                }
            },
        };
        // offset=-1 asks for the size (the WebUI's pailer starts so).
        let start = if offset == -1 {
            length = Some(0);
            0
        } else {
            offset as u64
        };
        let resolved = match self.files.resolve(path) {
            Ok(resolved) => resolved,
            Err(e) => return resolve_error(e),
        };
        if resolved.is_dir() {
            return text(StatusCode::BAD_REQUEST, "Cannot read a directory.\n");
        }
        let mut file = match tokio::fs::File::open(&resolved).await {
            Ok(file) => file,
            Err(e) => {
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("Failed to open file at '{}': {e}.\n", resolved.display()),
                );
            }
        };
        let size = match file.metadata().await {
            Ok(m) => m.len(),
            Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}.\n")),
        };
        let reported_offset = if offset == -1 { size } else { start };
        let mut data = Vec::new();
        if start < size {
            let wanted = length.unwrap_or(size - start).min(MAX_READ);
            if wanted > 0 {
                if let Err(e) = file.seek(std::io::SeekFrom::Start(start)).await {
                    return text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}.\n"));
                }
                if let Err(e) = (&mut file).take(wanted).read_to_end(&mut data).await {
                    return text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}.\n"));
                }
            }
        }
        let object = json!({
            "data": String::from_utf8_lossy(&data),
            "offset": reported_offset,
        });
        json_ok(&object, params.get("jsonp"))
    }

    async fn download(&self, params: &HashMap<String, String>) -> Response<Body> {
        let Some(path) = params.get("path").filter(|p| !p.is_empty()) else {
            return text(
                StatusCode::BAD_REQUEST,
                "Expecting 'path=value' in query.\n",
            );
        };
        let resolved = match self.files.resolve(path) {
            Ok(resolved) => resolved,
            Err(e) => return resolve_error(e),
        };
        if resolved.is_dir() {
            return text(StatusCode::BAD_REQUEST, "Cannot download a directory.\n");
        }
        let mut file = match tokio::fs::File::open(&resolved).await {
            Ok(file) => file,
            Err(_) => return text(StatusCode::NOT_FOUND, ""),
        };
        let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(4);
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                match file.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if sender
                            .send(Bytes::copy_from_slice(&buffer[..n]))
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                }
            }
        });
        let name = resolved
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let media = resolved
            .extension()
            .and_then(|e| e.to_str())
            .and_then(mime_type)
            .unwrap_or("application/octet-stream");
        let mut response = Response::new(Body::bounded(receiver));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(media),
        );
        if let Ok(value) = header::HeaderValue::from_str(&format!("attachment; filename={name}")) {
            headers.insert(header::CONTENT_DISPOSITION, value);
        }
        response
    }

    async fn serve(&self, path: String) -> Response<Body> {
        let params = query(&path);
        let endpoint = path.split('?').next().unwrap_or("").trim_end_matches('/');
        match endpoint {
            "/browse" => self.browse(&params),
            "/read" => self.read(&params).await,
            "/download" => self.download(&params).await,
            "/debug" => json_ok(&self.files.debug(), params.get("jsonp")),
            _ => text(
                StatusCode::NOT_FOUND,
                &format!("No endpoint '/files{endpoint}'"),
            ),
        }
    }
}

/// The media type of a file extension, for the common ones.
fn mime_type(extension: &str) -> Option<&'static str> {
    Some(match extension.to_ascii_lowercase().as_str() {
        "txt" | "log" => "text/plain",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "js" => "application/javascript",
        "json" => "application/json",
        "xml" => "application/xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        "gz" | "tgz" => "application/x-gzip",
        "tar" => "application/x-tar",
        "zip" => "application/zip",
        _ => return None,
    })
}

impl HttpHandler for FilesHttp {
    fn handle(
        &self,
        request: http::Request<hyper::body::Incoming>,
        path: String,
    ) -> ResponseFuture {
        let this = FilesHttp {
            files: self.files.clone(),
        };
        let method = request.method().clone();
        let path = match request.uri().query() {
            Some(query) => format!("{path}?{query}"),
            None => path,
        };
        Box::pin(async move {
            if method != http::Method::GET && method != http::Method::HEAD {
                return text(
                    StatusCode::METHOD_NOT_ALLOWED,
                    &format!("Expecting 'GET', received '{method}'"),
                );
            }
            this.serve(path).await
        })
    }
}

#[cfg(test)]
mod tests;
