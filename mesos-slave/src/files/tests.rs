use http_body_util::BodyExt;

use super::*;

async fn get(files: &Files, path: &str) -> (StatusCode, String) {
    let http = FilesHttp {
        files: files.clone(),
    };
    let response = http.serve(path.to_string()).await;
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn json(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A sandbox laid out as the agent lays it out, attached.
fn sandbox() -> (tempfile::TempDir, Files, PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let sandbox = crate::paths::sandbox_dir(work.path(), "S0", "F1", "E1", "C1");
    crate::paths::create_sandbox(&sandbox).unwrap();
    std::fs::write(sandbox.join("stdout"), "hello world\n").unwrap();
    std::fs::create_dir(sandbox.join("sub")).unwrap();
    std::fs::write(sandbox.join("sub/data.json"), "{}").unwrap();
    std::os::unix::fs::symlink("/etc", sandbox.join("escape")).unwrap();
    let files = Files::default();
    files.attach_sandbox(&sandbox, "F1", "E1");
    (work, files, sandbox)
}

#[tokio::test]
async fn browse_lists_a_sandbox_under_each_of_its_paths() {
    let (_work, files, sandbox) = sandbox();
    let latest = sandbox.parent().unwrap().join("latest");
    for path in [
        "/frameworks/F1/executors/E1/runs/latest".to_string(),
        sandbox.display().to_string(),
        format!("{}/", latest.display()),
    ] {
        let (status, body) = get(&files, &format!("/browse?path={path}")).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let listing = json(&body);
        let names: Vec<&str> = listing
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        let shown = path.trim_end_matches('/');
        assert_eq!(
            names,
            vec![
                format!("{shown}/escape"),
                format!("{shown}/stdout"),
                format!("{shown}/sub"),
            ],
            "{path}"
        );
        let stdout = &listing[1];
        assert_eq!(stdout["size"], 12);
        assert_eq!(stdout["nlink"], 1);
        assert!(stdout["mode"].as_str().unwrap().starts_with("-rw"));
        assert!(stdout["mtime"].as_i64().unwrap() > 0);
        assert!(stdout["uid"].is_string() && stdout["gid"].is_string());
        assert!(listing[2]["mode"].as_str().unwrap().starts_with('d'));
    }
    let (status, body) = get(
        &files,
        "/browse?path=%2Fframeworks%2FF1%2Fexecutors%2FE1%2Fruns%2Flatest%2Fsub&jsonp=cb",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.starts_with("cb([{") && body.contains("data.json"),
        "{body}"
    );
    assert_eq!(get(&files, "/browse").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(
        get(
            &files,
            "/browse?path=/frameworks/F1/executors/E9/runs/latest"
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn read_pages_through_a_file_as_the_pailer_does() {
    let (_work, files, _sandbox) = sandbox();
    let path = "/frameworks/F1/executors/E1/runs/latest/stdout";
    // offset=-1: the size.
    let (status, body) = get(&files, &format!("/read?path={path}&offset=-1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body), json(r#"{"data":"","offset":12}"#));
    let (_, body) = get(&files, &format!("/read?path={path}&offset=6&length=5")).await;
    assert_eq!(json(&body), json(r#"{"data":"world","offset":6}"#));
    let (_, body) = get(&files, &format!("/read?path={path}&offset=0")).await;
    assert_eq!(json(&body), json(r#"{"data":"hello world\n","offset":0}"#));
    let (_, body) = get(&files, &format!("/read?path={path}&offset=100&length=-1")).await;
    assert_eq!(json(&body), json(r#"{"data":"","offset":100}"#));

    let bad = [
        (
            format!("/read?path={path}&offset=-2"),
            "Negative offset provided: -2.\n",
        ),
        (
            format!("/read?path={path}&length=x"),
            "Failed to parse length",
        ),
        (
            "/read?path=/frameworks/F1/executors/E1/runs/latest/sub".to_string(),
            "Cannot read a directory.\n",
        ),
        (
            "/read?path=/frameworks/F1/executors/E1/runs/latest/escape/passwd".to_string(),
            "is inaccessible",
        ),
        (
            "/read?path=".to_string(),
            "Expecting 'path=value' in query.\n",
        ),
    ];
    for (request, expected) in bad {
        let (status, body) = get(&files, &request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{request}: {body}");
        assert!(body.contains(expected), "{request}: {body}");
    }
    assert_eq!(
        get(&files, &format!("{path}/nope")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn download_and_debug() {
    let (_work, files, sandbox) = sandbox();
    let http = FilesHttp {
        files: files.clone(),
    };
    let response = http
        .serve("/download?path=/frameworks/F1/executors/E1/runs/latest/sub/data.json".into())
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        response.headers()[header::CONTENT_DISPOSITION],
        "attachment; filename=data.json"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"{}");
    assert_eq!(
        get(
            &files,
            "/download?path=/frameworks/F1/executors/E1/runs/latest"
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );

    let (status, body) = get(&files, "/debug").await;
    assert_eq!(status, StatusCode::OK);
    let debug = json(&body);
    let real = sandbox.canonicalize().unwrap().display().to_string();
    assert_eq!(debug["/frameworks/F1/executors/E1/runs/latest"], real);
    assert_eq!(debug[sandbox.display().to_string()], real);
    assert_eq!(debug.as_object().unwrap().len(), 3);
}
