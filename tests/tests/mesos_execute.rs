//! `mesos-execute` against a real master and agent: a task that succeeds
//! leaves its output in the sandbox; a task that fails is reported so.

use mesos_e2e::Cluster;

fn describe(output: &std::process::Output) -> String {
    format!(
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn echo_finishes_and_writes_its_sandbox_stdout() {
    let cluster = Cluster::start(1).await;
    let output = cluster.mesos_execute(&[
        "--name=hello",
        "--command=echo hello",
        "--resources=cpus:0.1;mem:32",
    ]);
    assert!(output.status.success(), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("TASK_FINISHED"), "{}", describe(&output));

    let sandboxes = cluster.sandbox_files("stdout");
    assert_eq!(
        sandboxes.len(),
        1,
        "one executor run expected: {sandboxes:?}"
    );
    let text = std::fs::read_to_string(&sandboxes[0]).unwrap();
    assert!(
        text.lines().any(|line| line == "hello"),
        "{} does not hold the task's output:\n{text}",
        sandboxes[0].display()
    );
}

#[tokio::test]
async fn false_fails_with_task_failed() {
    let cluster = Cluster::start(1).await;
    let output = cluster.mesos_execute(&[
        "--name=fails",
        "--command=false",
        "--resources=cpus:0.1;mem:32",
    ]);
    assert!(!output.status.success(), "{}", describe(&output));
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(printed.contains("TASK_FAILED"), "{}", describe(&output));
    assert!(!printed.contains("TASK_FINISHED"), "{}", describe(&output));
}

#[tokio::test]
async fn a_task_group_runs_on_the_default_executor() {
    let cluster = Cluster::start(1).await;
    let dir = tempfile::tempdir().unwrap();
    let group = r#"{"tasks": [
        {"name": "a", "task_id": {"value": "a"}, "agent_id": {"value": ""},
         "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                       {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}],
         "command": {"value": "echo from-a"}},
        {"name": "b", "task_id": {"value": "b"}, "agent_id": {"value": ""},
         "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                       {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}],
         "command": {"value": "echo from-b"}}
    ]}"#;
    let file = dir.path().join("group.json");
    std::fs::write(&file, group).unwrap();
    let flag = format!("--task_group={}", file.display());
    let output = cluster.mesos_execute(&["--name=pod", &flag]);
    assert!(output.status.success(), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for task in ["'a'", "'b'"] {
        assert!(
            stdout.contains(&format!(
                "Received status update TASK_FINISHED for task {task}"
            )),
            "{}",
            describe(&output)
        );
    }

    // Inline JSON, one task failing: the run fails.
    let failing = group.replace("echo from-b", "exit 1");
    let output = cluster.mesos_execute(&["--name=pod", &format!("--task_group={failing}")]);
    assert!(!output.status.success(), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("TASK_FAILED"),
        "{}",
        describe(&output)
    );
}
