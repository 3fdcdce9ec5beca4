//! The daemons' and tools' command lines as processes see them: `--version`
//! on every binary, Mesos's flag errors on standard error with the exit
//! status Mesos uses, and the running daemons' `/flags` listing Mesos's
//! names and defaults.

use mesos_e2e::{Cluster, command, http};
use std::process::Output;

fn run(name: &str, args: &[&str]) -> Output {
    command(name).args(args).output().expect("run the binary")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn every_binary_prints_the_mesos_version() {
    for name in [
        "mesos-master",
        "mesos-slave",
        "mesos-agent",
        "mesos-local",
        "mesos-execute",
        "mesos-executor",
        "mesos-docker-executor",
        "mesos-default-executor",
    ] {
        let output = run(name, &["--version"]);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        assert_eq!(stdout(&output), "mesos 1.11.0\n", "{name}");
    }
    // Mesos checks --version before the other flags.
    let output = run("mesos-master", &["--version", "--no_such_flag=1"]);
    assert!(output.status.success());
    assert_eq!(stdout(&output), "mesos 1.11.0\n");
}

#[test]
fn the_init_wrapper_answers_version_as_mesos_s_does() {
    // Mesos's wrapper has no --version: it is not a mode.
    let output = run("mesos-init-wrapper", &["--version"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stderr(&output), "Please use `master' or `slave'.\n");
}

#[test]
fn flag_errors_read_as_mesos_s() {
    let output = run("mesos-master", &["--registry=in_memory", "--foo=1"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "Failed to load unknown flag 'foo'\n\nSee `mesos-master --help` for a list of supported flags.\n"
    );
    let output = run("mesos-agent", &["--work_dir=/nonexistent", "--foo=1"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "Failed to load unknown flag 'foo'\n\nSee `mesos-agent --help` for a list of supported flags.\n"
    );
    let output = run("mesos-slave", &["--master=127.0.0.1:5050"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).starts_with("Flag 'work_dir' is required, but it was not provided\n"),
        "{}",
        stderr(&output)
    );
    let output = run("mesos-master", &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("--work_dir needed for replicated log based registry"),
        "{}",
        stderr(&output)
    );
    let output = command("mesos-agent")
        .arg("--work_dir=/nonexistent")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("Missing required option `--master` or `--master_detector`"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn flags_endpoints_show_mesos_names_and_defaults() {
    let cluster = Cluster::start_with_agent_flags(
        1,
        &["--slave_ping_timeout=7secs", "--no-root_submissions"],
        &["--slave_subsystems=cpu", "--no-systemd_enable_support"],
    )
    .await;
    let flags = get_flags(cluster.master.addr).await;
    assert_eq!(flags["agent_ping_timeout"], "7secs");
    assert!(flags.get("slave_ping_timeout").is_none());
    assert_eq!(flags["root_submissions"], "false");
    assert_eq!(flags["authenticators"], "crammd5");
    assert_eq!(flags["allocator"], "hierarchical");
    let flags = get_flags(cluster.agents[0].addr).await;
    assert_eq!(flags["agent_subsystems"], "cpu");
    assert!(flags.get("slave_subsystems").is_none());
    assert_eq!(flags["systemd_enable_support"], "false");
    assert_eq!(flags["authenticatee"], "crammd5");
    assert_eq!(flags["recovery_timeout"], "15mins");
    // Each flag accepted without effect is named in a warning.
    let log = std::fs::read_to_string(&cluster.agents[0].log).unwrap();
    assert!(
        log.contains("--agent_subsystems=cpu is accepted for compatibility but not implemented"),
        "{log}"
    );
    assert!(
        log.contains("Loaded deprecated flag 'slave_subsystems'"),
        "{log}"
    );
}

async fn get_flags(addr: std::net::SocketAddr) -> serde_json::Value {
    let response = http::get(addr, "/flags").await.expect("GET /flags");
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["flags"].clone()
}
