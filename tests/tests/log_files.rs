//! `--log_dir`: the daemons write glog's files, one per severity, named
//! `<program>.<host>.<user>.log.<SEVERITY>.<YYYYMMDD-HHMMSS>.<pid>` and
//! pointed to by `<program>.<SEVERITY>`, while standard error gets the same
//! lines; `--quiet` keeps standard error empty.

use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use mesos_e2e::{command, free_port};

/// Kills the child (by its pid) on drop.
struct Running(Option<Child>);

impl Running {
    fn pid(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }

    /// Kills the child and collects what it wrote.
    fn finish(mut self) -> Output {
        let mut child = self.0.take().unwrap();
        let _ = child.kill();
        child.wait_with_output().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn hostname() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its length.
    assert_eq!(
        unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) },
        0
    );
    let end = buffer.iter().position(|&b| b == 0).unwrap();
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

/// The file `<program>.<severity>` points to, checked against glog's
/// naming, and its text.
fn log_file(dir: &Path, program: &str, severity: &str, pid: u32) -> String {
    let link = dir.join(format!("{program}.{severity}"));
    let target = std::fs::read_link(&link).unwrap_or_else(|e| panic!("{link:?}: {e}"));
    let name = target.to_string_lossy();
    let user = std::env::var("USER").unwrap_or_else(|_| mesos_e2e::current_user());
    let prefix = format!("{program}.{}.{user}.log.{severity}.", hostname());
    assert!(
        name.starts_with(&prefix),
        "{name} does not start with {prefix}"
    );
    assert!(
        name.ends_with(&format!(".{pid}")),
        "{name} does not end with .{pid}"
    );
    std::fs::read_to_string(&link).unwrap()
}

#[test]
fn master_and_agent_write_glog_files_per_severity() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let port = free_port();
    let master = command("mesos-master")
        .args([
            "--ip=127.0.0.1".to_string(),
            format!("--port={port}"),
            format!("--work_dir={}", dir.path().join("master").display()),
            format!("--log_dir={}", logs.display()),
            // A WebUI directory that does not exist: warned about at
            // start-up.
            format!("--webui_dir={}", dir.path().join("no-webui").display()),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let master = Running(Some(master));
    let master_pid = master.pid();
    wait_for("mesos-master.INFO", || {
        logs.join("mesos-master.INFO").exists()
    });
    // The --webui_dir warning comes at start-up: a WARNING file, and the
    // INFO file has it too.
    wait_for("mesos-master.WARNING", || {
        logs.join("mesos-master.WARNING").exists()
    });
    let agent_port = free_port();
    let agent = command("mesos-agent")
        .args([
            "--ip=127.0.0.1".to_string(),
            format!("--port={agent_port}"),
            format!("--master=127.0.0.1:{port}"),
            format!("--work_dir={}", dir.path().join("agent").display()),
            format!("--log_dir={}", logs.display()),
            "--resources=cpus:1;mem:128".to_string(),
            "--quiet".to_string(),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let agent = Running(Some(agent));
    let agent_pid = agent.pid();
    wait_for("the agent's registration in the master's log", || {
        std::fs::read_to_string(logs.join("mesos-master.INFO"))
            .is_ok_and(|text| text.contains("Registered agent"))
    });

    let info = log_file(&logs, "mesos-master", "INFO", master_pid);
    let warning = log_file(&logs, "mesos-master", "WARNING", master_pid);
    assert!(!logs.join("mesos-master.ERROR").exists());
    assert!(info.starts_with("Log file created at: "), "{info}");
    let lines = |text: &str| -> Vec<String> { text.lines().skip(3).map(String::from).collect() };
    for line in lines(&info) {
        let letter = line.chars().next().unwrap();
        assert!(matches!(letter, 'I' | 'W'), "{line}");
        assert!(line.contains(".rs:"), "{line}");
    }
    assert!(
        lines(&warning).iter().all(|l| l.starts_with('W')),
        "{warning}"
    );
    for line in lines(&warning) {
        assert!(info.contains(&line), "{line} missing from INFO");
    }
    assert!(lines(&info).iter().any(|l| l.starts_with('I')));

    let agent_info = log_file(&logs, "mesos-agent", "INFO", agent_pid);
    assert!(
        lines(&agent_info).iter().any(|l| l.starts_with('I')),
        "{agent_info}"
    );

    // --quiet: nothing on the agent's standard error; the master's has the
    // lines of its files.
    let output = agent.finish();
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = master.finish();
    let stderr = String::from_utf8_lossy(&output.stderr);
    for line in lines(&info) {
        assert!(stderr.contains(&line), "{line} missing from standard error");
    }
}
