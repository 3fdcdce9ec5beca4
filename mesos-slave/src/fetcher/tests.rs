use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;

use super::*;

fn uri(value: &str) -> v0::command_info::Uri {
    v0::command_info::Uri {
        value: value.to_string(),
        ..Default::default()
    }
}

fn spec(sandbox: &Path, uris: Vec<v0::command_info::Uri>) -> LaunchSpec {
    LaunchSpec {
        container_id: "c".into(),
        framework_id: "F".into(),
        executor_id: "E".into(),
        limits: Default::default(),
        sandbox: sandbox.to_path_buf(),
        command: v0::CommandInfo {
            uris,
            ..Default::default()
        },
        environment: Default::default(),
    }
}

/// A one-thread HTTP server answering each request from `answer(path)`
/// (status line and body), for `requests` requests.
fn serve(requests: usize, answer: fn(&str) -> (String, Vec<u8>)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buffer).unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buffer[..n]);
            }
            let text = String::from_utf8_lossy(&request);
            let path = text.split(' ').nth(1).unwrap_or("/").to_string();
            let (head, body) = answer(&path);
            let _ = write!(
                stream,
                "HTTP/1.1 {head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    format!("http://{address}")
}

#[test]
fn names_follow_the_uri_or_output_file() {
    assert_eq!(
        destination_name("http://h:80/a/b/app.tar.gz?x=1", None).unwrap(),
        Path::new("app.tar.gz")
    );
    assert_eq!(
        destination_name("file:///opt/x/tool", None).unwrap(),
        Path::new("tool")
    );
    assert_eq!(
        destination_name("/opt/x/tool", Some("bin/t")).unwrap(),
        Path::new("bin/t")
    );
    assert!(destination_name("http://h/", None).is_err());
    assert!(destination_name("/x", Some("../escape")).is_err());
    assert!(destination_name("/x", Some("/etc/passwd")).is_err());
}

#[test]
fn archives_by_name() {
    assert_eq!(archive_kind("a.tar.gz"), Some(ArchiveKind::Tar));
    assert_eq!(archive_kind("a.TGZ"), Some(ArchiveKind::Tar));
    assert_eq!(archive_kind("a.tar.xz"), Some(ArchiveKind::Tar));
    assert_eq!(archive_kind("a.tbz2"), Some(ArchiveKind::Tar));
    assert_eq!(archive_kind("a.zip"), Some(ArchiveKind::Zip));
    assert_eq!(archive_kind("a.gz"), Some(ArchiveKind::Gzip));
    assert_eq!(archive_kind("a.txt"), None);
}

#[tokio::test]
async fn copies_local_files_makes_them_executable_and_extracts_archives() {
    let source = tempfile::tempdir().unwrap();
    let sandbox = tempfile::tempdir().unwrap();
    std::fs::write(source.path().join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::create_dir(source.path().join("pkg")).unwrap();
    std::fs::write(source.path().join("pkg/data.txt"), "payload").unwrap();
    let status = std::process::Command::new("tar")
        .arg("-C")
        .arg(source.path())
        .args(["-czf", "pkg.tar.gz", "pkg"])
        .current_dir(source.path())
        .status()
        .unwrap();
    assert!(status.success());

    let mut executable = uri(&format!("file://{}/run.sh", source.path().display()));
    executable.executable = Some(true);
    let archive = uri(&source.path().join("pkg.tar.gz").display().to_string());
    let mut renamed = uri(&source.path().join("pkg/data.txt").display().to_string());
    renamed.output_file = Some("conf/renamed.txt".into());
    let mut kept = uri(&source.path().join("pkg.tar.gz").display().to_string());
    kept.extract = Some(false);
    kept.output_file = Some("kept.tar.gz".into());

    Fetcher::default()
        .fetch(&spec(
            sandbox.path(),
            vec![executable, archive, renamed, kept],
        ))
        .await
        .unwrap();
    let sandbox = sandbox.path();
    let mode = std::fs::metadata(sandbox.join("run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(
        std::fs::read_to_string(sandbox.join("pkg/data.txt")).unwrap(),
        "payload"
    );
    assert!(sandbox.join("pkg.tar.gz").is_file(), "the archive is kept");
    assert_eq!(
        std::fs::read_to_string(sandbox.join("conf/renamed.txt")).unwrap(),
        "payload"
    );
    assert!(sandbox.join("kept.tar.gz").is_file());
    let log = std::fs::read_to_string(sandbox.join("stderr")).unwrap();
    assert!(log.contains("Fetching URI"), "{log}");
}

#[tokio::test]
async fn downloads_over_http_following_redirects() {
    let base = serve(2, |path| match path {
        "/old/tool" => ("302 Found\r\nLocation: /new/tool".into(), Vec::new()),
        "/new/tool" => ("200 OK".into(), b"downloaded".to_vec()),
        _ => ("404 Not Found".into(), Vec::new()),
    });
    let sandbox = tempfile::tempdir().unwrap();
    Fetcher::default()
        .fetch(&spec(
            sandbox.path(),
            vec![uri(&format!("{base}/old/tool"))],
        ))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(sandbox.path().join("tool")).unwrap(),
        "downloaded"
    );
}

#[tokio::test]
async fn failures_say_what_failed() {
    let base = serve(1, |_| ("404 Not Found".into(), Vec::new()));
    let sandbox = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::default();
    let error = fetcher
        .fetch(&spec(
            sandbox.path(),
            vec![uri(&format!("{base}/missing.tgz"))],
        ))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("received HTTP return code 404"),
        "{error}"
    );
    let error = fetcher
        .fetch(&spec(sandbox.path(), vec![uri("/no/such/file")]))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("No such file"), "{error}");
    let error = fetcher
        .fetch(&spec(sandbox.path(), vec![uri("relative/file")]))
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("framework home was not specified"),
        "{error}"
    );
    let error = fetcher
        .fetch(&spec(
            sandbox.path(),
            vec![uri("https://example.invalid/x")],
        ))
        .await
        .unwrap_err();
    // https goes to curl, which fails on a name that cannot resolve (or
    // is missing, which says so).
    let text = error.to_string();
    assert!(
        text.contains("Failed to download 'https://example.invalid/x'")
            && (text.contains("curl") || text.contains("not installed")),
        "{error}"
    );

    // A relative path under --frameworks_home.
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join("relative")).unwrap();
    std::fs::write(home.path().join("relative/file"), "x").unwrap();
    Fetcher::new(FetcherConfig {
        frameworks_home: Some(home.path().to_path_buf()),
        ..FetcherConfig::default()
    })
    .fetch(&spec(sandbox.path(), vec![uri("relative/file")]))
    .await
    .unwrap();
    assert!(sandbox.path().join("file").is_file());
}

#[tokio::test]
async fn cached_uris_are_downloaded_once() {
    // One request only: a second download would find no server.
    let base = serve(1, |_| ("200 OK".into(), b"cached bytes".to_vec()));
    let dir = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(FetcherConfig {
        cache: Some((dir.path().join("cache"), 1 << 20)),
        ..FetcherConfig::default()
    });
    let mut cached = uri(&format!("{base}/pkg/tool.bin"));
    cached.cache = Some(true);
    for _ in 0..2 {
        let sandbox = tempfile::tempdir().unwrap();
        fetcher
            .fetch(&spec(sandbox.path(), vec![cached.clone()]))
            .await
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(sandbox.path().join("tool.bin")).unwrap(),
            "cached bytes"
        );
    }
    let kept: Vec<_> = std::fs::read_dir(dir.path().join("cache"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(kept, vec!["c1-tool.bin".to_string()]);
    // A new fetcher (the agent restarted) starts with an empty cache.
    let _restarted = Fetcher::new(FetcherConfig {
        cache: Some((dir.path().join("cache"), 1 << 20)),
        ..FetcherConfig::default()
    });
    assert!(!dir.path().join("cache").exists());
}
