//! The built `mesos-init-wrapper` against fixture trees: the packaged
//! configuration (the repository's `etc/`, with `/etc/` moved under a
//! temporary root), a fake daemon that records its argv, environment,
//! limits and pid, and a fake `logger` on `PATH` that records what would
//! reach syslog.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const WRAPPER: &str = env!("CARGO_BIN_EXE_mesos-init-wrapper");

/// Records `$0`, each argument, the environment, the open-files limits and
/// the pid in the root, prints one line on each output, and exits with the
/// status in the root's `status` (0 without it).
const FAKE_DAEMON: &str = r#"#!/bin/sh
here=$(dirname "$0")
{
  printf 'argv0:%s\n' "$0"
  for a in "$@"; do printf 'arg:[%s]\n' "$a"; done
  env | sed 's/^/env:/'
  printf 'nofile:%s\n' "$(ulimit -Sn)"
  printf 'hardnofile:%s\n' "$(ulimit -Hn)"
  printf 'pid:%s\n' "$$"
} > "$here/../../record.$(basename "$0")"
echo "hello on stdout"
echo "hello on stderr" >&2
exit "$(cat "$here/../../status" 2>/dev/null || echo 0)"
"#;

/// Appends `<tag> <line>` for each line of input to `../syslog.<priority>`.
const FAKE_LOGGER: &str = r#"#!/bin/sh
here=$(dirname "$0")
while IFS= read -r line; do printf '%s %s\n' "$4" "$line" >> "$here/../syslog.$2"; done
"#;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// A root holding the packaged `etc/` tree, with `/etc/` in the
    /// default files pointing into the root.
    fn packaged() -> Fixture {
        let fixture = Fixture::empty();
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc");
        copy_tree(&source, &fixture.path("etc"));
        for name in ["mesos", "mesos-master", "mesos-slave"] {
            let file = fixture.path(&format!("etc/default/{name}"));
            let text = fs::read_to_string(&file).unwrap();
            let root = format!("{}/etc/", fixture.root().display());
            fs::write(&file, text.replace("/etc/", &root)).unwrap();
        }
        fixture
    }

    /// A root with the fake daemons and logger only.
    fn empty() -> Fixture {
        let fixture = Fixture {
            dir: tempfile::tempdir().unwrap(),
        };
        for daemon in ["mesos-master", "mesos-slave", "mesos-agent"] {
            fixture.executable(&format!("usr/sbin/{daemon}"), FAKE_DAEMON);
        }
        fixture.executable("bin/logger", FAKE_LOGGER);
        fixture
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root().join(relative)
    }

    fn write(&self, relative: &str, content: &str) {
        let path = self.path(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    fn executable(&self, relative: &str, content: &str) {
        self.write(relative, content);
        fs::set_permissions(self.path(relative), fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(WRAPPER);
        command
            .args(args)
            .env("MESOS_INIT_WRAPPER_ROOT", self.root())
            .env("MESOS_INIT_WRAPPER_SBIN", self.path("usr/sbin"))
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", self.path("bin").display()),
            )
            .env_remove("LC_ALL");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// What the fake `daemon` recorded.
    fn record(&self, daemon: &str) -> Record {
        let text = fs::read_to_string(self.path(&format!("record.{daemon}")))
            .unwrap_or_else(|e| panic!("{daemon} did not run: {e}"));
        Record { text }
    }

    fn ran(&self, daemon: &str) -> bool {
        self.path(&format!("record.{daemon}")).exists()
    }

    /// The lines the fake logger got for `priority`, once `count` arrived
    /// (the loggers finish after the daemon exits).
    fn syslog(&self, priority: &str, count: usize) -> Vec<String> {
        let file = self.path(&format!("syslog.{priority}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines: Vec<String> = fs::read_to_string(&file)
                .unwrap_or_default()
                .lines()
                .map(String::from)
                .collect();
            if lines.len() >= count || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

struct Record {
    text: String,
}

impl Record {
    fn values(&self, key: &str) -> Vec<String> {
        let prefix = format!("{key}:");
        self.text
            .lines()
            .filter_map(|line| line.strip_prefix(&prefix).map(String::from))
            .collect()
    }

    fn one(&self, key: &str) -> String {
        let values = self.values(key);
        assert_eq!(values.len(), 1, "{key} in {}", self.text);
        values.into_iter().next().unwrap()
    }

    fn args(&self) -> Vec<String> {
        self.values("arg")
            .into_iter()
            .map(|a| a.trim_start_matches('[').trim_end_matches(']').to_string())
            .collect()
    }

    fn env(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.values("env")
            .into_iter()
            .find_map(|entry| entry.strip_prefix(&prefix).map(String::from))
    }
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn master_with_the_packaged_configuration() {
    let fixture = Fixture::packaged();
    let output = fixture.run(&["master"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let record = fixture.record("mesos-master");
    assert_eq!(
        record.one("argv0"),
        fixture.path("usr/sbin/mesos-master").display().to_string()
    );
    assert_eq!(
        record.args(),
        [
            "--zk=zk://localhost:2181/mesos",
            "--port=5050",
            "--log_dir=/var/log/mesos",
            "--quorum=1",
            "--work_dir=/var/lib/mesos",
        ]
    );
    // Everything the default files assign is exported, and the locale the
    // packaged script sets.
    assert_eq!(record.env("LOGS").as_deref(), Some("/var/log/mesos"));
    assert_eq!(record.env("ULIMIT").as_deref(), Some("-n 8192"));
    assert_eq!(record.env("PORT").as_deref(), Some("5050"));
    assert_eq!(
        record.env("ZK").as_deref(),
        Some("zk://localhost:2181/mesos")
    );
    assert_eq!(record.env("LC_ALL").as_deref(), Some("en_US.UTF-8"));
    assert_eq!(record.env("MESOS_INIT_WRAPPER_ROOT"), None);
    assert_eq!(record.env("MESOS_INIT_WRAPPER_SBIN"), None);
    // `ulimit -n 8192` sets both limits.
    assert_eq!(record.one("nofile"), "8192");
    assert_eq!(record.one("hardnofile"), "8192");
    // Output went to syslog, tagged with the daemon's name and pid.
    let pid = record.one("pid");
    assert_eq!(
        fixture.syslog("user.info", 1),
        [format!("mesos-master[{pid}] hello on stdout")]
    );
    assert_eq!(
        fixture.syslog("user.err", 1),
        [format!("mesos-master[{pid}] hello on stderr")]
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn slave_and_agent_with_the_packaged_configuration() {
    for (mode, daemon) in [("slave", "mesos-slave"), ("agent", "mesos-agent")] {
        let fixture = Fixture::packaged();
        let output = fixture.run(&[mode]);
        assert!(output.status.success(), "{}", stderr(&output));
        let record = fixture.record(daemon);
        assert_eq!(
            record.args(),
            [
                "--master=zk://localhost:2181/mesos",
                "--log_dir=/var/log/mesos",
                "--work_dir=/var/lib/mesos",
            ]
        );
        let pid = record.one("pid");
        assert_eq!(
            fixture.syslog("user.info", 1),
            [format!("{daemon}[{pid}] hello on stdout")]
        );
    }
}

#[test]
fn question_mark_files_variables_and_mesos_variables() {
    let fixture = Fixture::packaged();
    fixture.write(
        "etc/default/mesos-master",
        &format!(
            "PORT=5050\nZK=`cat {}/etc/mesos/zk`\nIP=127.0.0.1\nCLUSTER=prod\n\
             MESOS_HOSTNAME=master.example\nMESOS_QUORUM=$((1 + 1))\n",
            fixture.root().display()
        ),
    );
    fixture.write("etc/default/mesos", "LOGS=\nULIMIT=\n");
    fixture.write("etc/mesos-master/?no-hostname_lookup", "");
    fixture.write("etc/mesos-master/?quiet", "ignored content");
    fixture.write("etc/mesos-master/registry", "in_memory\n\n");
    fixture.write("etc/mesos-master/.hidden", "x");
    fs::create_dir_all(fixture.path("etc/mesos-master/ignored_dir")).unwrap();
    let output = fixture.run(&["master"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let record = fixture.record("mesos-master");
    assert_eq!(
        record.args(),
        [
            "--zk=zk://localhost:2181/mesos",
            "--ip=127.0.0.1",
            "--port=5050",
            "--cluster=prod",
            "--no-hostname_lookup",
            "--quiet",
            "--quorum=1",
            "--registry=in_memory",
            "--work_dir=/var/lib/mesos",
        ]
    );
    assert_eq!(
        record.env("MESOS_HOSTNAME").as_deref(),
        Some("master.example")
    );
    assert_eq!(record.env("MESOS_QUORUM").as_deref(), Some("2"));
    assert_eq!(record.env("LOGS").as_deref(), Some(""));
}

#[test]
fn agent_attributes_resources_and_isolation() {
    let fixture = Fixture::packaged();
    fixture.write(
        "etc/default/mesos-slave",
        "MASTER=127.0.0.1:5050\nISOLATION=posix/cpu,posix/mem\nIP=127.0.0.1\n",
    );
    fixture.write("etc/mesos-slave/attributes/rack", "north-west\n");
    fixture.write("etc/mesos-slave/attributes/os", "debian");
    fixture.write("etc/mesos-slave/attributes/empty", "");
    fixture.write("etc/mesos-slave/resources/cpus", "4\n");
    fixture.write("etc/mesos-slave/resources/mem", "2048");
    fixture.write("etc/mesos-slave/?no-switch_user", "");
    let output = fixture.run(&["slave"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        fixture.record("mesos-slave").args(),
        [
            "--master=127.0.0.1:5050",
            "--ip=127.0.0.1",
            "--log_dir=/var/log/mesos",
            "--isolation=posix/cpu,posix/mem",
            "--no-switch_user",
            "--work_dir=/var/lib/mesos",
            "--attributes=os:debian;rack:north-west",
            "--resources=cpus:4;mem:2048",
        ]
    );
}

#[test]
fn a_missing_zk_file_fails_as_the_packaged_defaults_do() {
    let fixture = Fixture::packaged();
    fs::remove_file(fixture.path("etc/mesos/zk")).unwrap();
    for (mode, daemon) in [("master", "mesos-master"), ("slave", "mesos-slave")] {
        let output = fixture.run(&[mode]);
        assert_eq!(output.status.code(), Some(1));
        let message = stderr(&output);
        assert!(
            message.contains("cat:") && message.contains("No such file"),
            "{message}"
        );
        assert!(!fixture.ran(daemon));
    }
}

#[test]
fn without_zk_in_the_defaults_the_master_runs_standalone() {
    let fixture = Fixture::packaged();
    fs::remove_file(fixture.path("etc/mesos/zk")).unwrap();
    fixture.write("etc/default/mesos-master", "PORT=5050\n");
    let output = fixture.run(&["master"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        fixture.record("mesos-master").args(),
        [
            "--port=5050",
            "--log_dir=/var/log/mesos",
            "--quorum=1",
            "--work_dir=/var/lib/mesos",
        ]
    );
}

#[test]
fn no_logger_leaves_output_on_the_wrappers_streams() {
    let fixture = Fixture::packaged();
    fixture.write("etc/mesos-master/?no-logger", "");
    let output = fixture.run(&["master"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "hello on stdout\n");
    // (bash may warn first that the locale the wrapper sets is missing.)
    assert!(
        stderr(&output).ends_with("hello on stderr\n"),
        "{}",
        stderr(&output)
    );
    let args = fixture.record("mesos-master").args();
    assert!(!args.iter().any(|a| a == "--no-logger"), "{args:?}");
    assert!(!fixture.path("syslog.user.info").exists());
}

#[test]
fn an_empty_configuration_passes_one_empty_argument() {
    let fixture = Fixture::empty();
    let output = fixture.run(&["master"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(fixture.record("mesos-master").args(), [""]);
}

#[test]
fn the_daemons_exit_status_is_the_wrappers() {
    let fixture = Fixture::packaged();
    fixture.write("status", "3");
    let output = fixture.run(&["master"]);
    assert_eq!(output.status.code(), Some(3));
}

#[test]
fn a_missing_daemon_exits_127() {
    let fixture = Fixture::packaged();
    fs::remove_file(fixture.path("usr/sbin/mesos-slave")).unwrap();
    fixture.write("etc/mesos-slave/?no-logger", "");
    let output = fixture.run(&["slave"]);
    assert_eq!(output.status.code(), Some(127));
    assert!(
        stderr(&output).contains("mesos-slave"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn usage_and_unknown_modes() {
    let fixture = Fixture::empty();
    for args in [&[][..], &["main"][..], &["standby"][..]] {
        let output = fixture.run(args);
        assert_eq!(output.status.code(), Some(1));
        assert_eq!(stderr(&output), "Please use `master' or `slave'.\n");
    }
    for flag in ["-h", "--help"] {
        let output = fixture.run(&[flag]);
        assert!(output.status.success());
        assert!(String::from_utf8_lossy(&output.stdout).contains("USAGE: mesos-init-wrapper"));
    }
    assert!(!fixture.ran("mesos-master"));
}

#[test]
fn dnsconfig_runs_first_and_its_failure_stops_the_wrapper() {
    let fixture = Fixture::packaged();
    fixture.executable(
        "usr/bin/mesosphere-dnsconfig",
        &format!(
            "#!/bin/sh\necho \"$@\" > {}/dnsconfig.args\nexit \"$(cat {}/dnsconfig.status 2>/dev/null || echo 0)\"\n",
            fixture.root().display(),
            fixture.root().display()
        ),
    );
    let output = fixture.run(&["agent"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        fs::read_to_string(fixture.path("dnsconfig.args")).unwrap(),
        "-write -service=mesos-slave\n"
    );
    fs::remove_file(fixture.path("record.mesos-agent")).unwrap();
    fixture.write("dnsconfig.status", "4");
    let output = fixture.run(&["master"]);
    assert_eq!(output.status.code(), Some(4));
    assert!(!fixture.ran("mesos-master"));
}

#[test]
fn ulimit_values_and_errors() {
    let fixture = Fixture::packaged();
    fixture.write("etc/default/mesos", "ULIMIT='-S -n 1000'\n");
    let output = fixture.run(&["master"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let record = fixture.record("mesos-master");
    assert_eq!(record.one("nofile"), "1000");
    assert_ne!(record.one("hardnofile"), "1000");
    fs::remove_file(fixture.path("record.mesos-master")).unwrap();

    for (spec, status) in [("-z 1", 2), ("-n lots", 1)] {
        fixture.write("etc/default/mesos", &format!("ULIMIT='{spec}'\n"));
        let output = fixture.run(&["master"]);
        assert_eq!(output.status.code(), Some(status), "{spec}");
        assert!(stderr(&output).contains("ulimit:"), "{}", stderr(&output));
        assert!(!fixture.ran("mesos-master"));
    }
}
