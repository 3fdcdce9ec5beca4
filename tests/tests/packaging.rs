//! The packages `packaging/build` writes: the `.deb` installed with
//! `dpkg -i` into a fresh Debian root (a Docker container of an image made
//! from this host's own packages by `tests/packaging/debian-rootfs`),
//! started and stopped with `service`, and the `.rpm`'s file list and
//! scripts.
//!
//! `MESOS_TEST_PACKAGE_DEB` and `MESOS_TEST_PACKAGE_RPM` name the packages
//! (`tests/run` builds them); without them the tests are skipped, saying
//! why, unless `MESOS_TEST_REQUIRE_PACKAGING=1`, which makes that a
//! failure (as CI sets it).

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const DEB_VAR: &str = "MESOS_TEST_PACKAGE_DEB";
const RPM_VAR: &str = "MESOS_TEST_PACKAGE_RPM";
const REQUIRE_VAR: &str = "MESOS_TEST_REQUIRE_PACKAGING";

/// The package named by `var`, or `None` (after saying why) when the test
/// is to be skipped.
fn package(var: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(path.is_file(), "{var}={} is not a file", path.display());
            Some(path)
        }
        None => {
            assert!(
                std::env::var_os(REQUIRE_VAR).is_none(),
                "{REQUIRE_VAR} is set but {var} is not"
            );
            eprintln!("skipped: {var} is not set (see tests/README.md)");
            None
        }
    }
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

fn stdout_of(program: &str, args: &[&str]) -> String {
    let output = run(program, args);
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What both packages hold besides their service files.
const COMMON_FILES: &[&str] = &[
    "/etc/default/mesos",
    "/etc/default/mesos-master",
    "/etc/default/mesos-slave",
    "/etc/mesos-master/quorum",
    "/etc/mesos-master/work_dir",
    "/etc/mesos-slave/work_dir",
    "/etc/mesos/zk",
    "/usr/bin/mesos-execute",
    "/usr/bin/mesos-init-wrapper",
    "/usr/bin/mesos-local",
    "/usr/libexec/mesos/mesos-executor",
    "/usr/sbin/mesos-agent",
    "/usr/sbin/mesos-master",
    "/usr/sbin/mesos-slave",
];

#[test]
fn deb_fields_and_contents() {
    let Some(deb) = package(DEB_VAR) else { return };
    let deb = deb.to_str().unwrap();
    let fields = stdout_of("dpkg-deb", &["-f", deb, "Package", "Depends", "Version"]);
    assert!(fields.contains("Package: mesos\n"), "{fields}");
    assert!(fields.contains("Version: 1.11.0-"), "{fields}");
    assert!(fields.contains("libc6"), "{fields}");
    assert!(!fields.contains("libmesos"), "{fields}");

    let contents = stdout_of("dpkg-deb", &["-c", deb]);
    let mut files: Vec<String> = contents
        .lines()
        .filter(|line| !line.starts_with('d'))
        .filter_map(|line| line.split_whitespace().nth(5))
        .map(|path| path.trim_start_matches('.').to_string())
        .collect();
    files.sort();
    let mut expected: Vec<String> = COMMON_FILES.iter().map(|f| f.to_string()).collect();
    expected.extend(
        [
            "/etc/init.d/mesos-master",
            "/etc/init.d/mesos-slave",
            "/lib/systemd/system/mesos-master.service",
            "/lib/systemd/system/mesos-slave.service",
            "/usr/share/doc/mesos/copyright",
        ]
        .map(String::from),
    );
    expected.sort();
    assert_eq!(files, expected);
    for dir in ["./var/log/mesos/", "./var/lib/mesos/"] {
        assert!(contents.contains(dir), "{dir} in {contents}");
    }
    assert!(!contents.contains("libmesos"));

    let control = tempfile::tempdir().unwrap();
    stdout_of("dpkg-deb", &["-e", deb, control.path().to_str().unwrap()]);
    let conffiles = std::fs::read_to_string(control.path().join("conffiles")).unwrap();
    let mut conffiles: Vec<&str> = conffiles.lines().collect();
    conffiles.sort();
    let mut expected_conffiles: Vec<&str> = COMMON_FILES
        .iter()
        .copied()
        .filter(|f| f.starts_with("/etc/"))
        .chain(["/etc/init.d/mesos-master", "/etc/init.d/mesos-slave"])
        .collect();
    expected_conffiles.sort();
    assert_eq!(conffiles, expected_conffiles);
}

#[test]
fn rpm_file_list_and_scripts() {
    let Some(rpm) = package(RPM_VAR) else { return };
    let rpm = rpm.to_str().unwrap();
    let identity = stdout_of(
        "rpm",
        &["-qp", "--qf", "%{NAME} %{VERSION} %{RELEASE}\n", rpm],
    );
    assert!(identity.starts_with("mesos 1.11.0 "), "{identity}");

    let mut files: Vec<String> = stdout_of("rpm", &["-qlp", rpm])
        .lines()
        .map(String::from)
        .collect();
    files.sort();
    let mut expected: Vec<String> = COMMON_FILES.iter().map(|f| f.to_string()).collect();
    expected.extend(
        [
            "/etc/mesos",
            "/etc/mesos-master",
            "/etc/mesos-slave",
            "/usr/libexec/mesos",
            "/usr/lib/systemd/system/mesos-master.service",
            "/usr/lib/systemd/system/mesos-slave.service",
            "/var/lib/mesos",
            "/var/log/mesos",
        ]
        .map(String::from),
    );
    expected.sort();
    assert_eq!(files, expected);

    let mut config: Vec<String> = stdout_of("rpm", &["-qp", "--configfiles", rpm])
        .lines()
        .map(String::from)
        .collect();
    config.sort();
    let expected_config: Vec<String> = COMMON_FILES
        .iter()
        .filter(|f| f.starts_with("/etc/"))
        .map(|f| f.to_string())
        .collect();
    assert_eq!(config, expected_config);

    let scripts = stdout_of("rpm", &["-qp", "--scripts", rpm]);
    assert!(scripts.contains("postinstall scriptlet"), "{scripts}");
    assert!(scripts.contains("preuninstall scriptlet"), "{scripts}");
    assert!(scripts.contains("postuninstall scriptlet"), "{scripts}");
    assert!(scripts.contains("systemctl enable mesos-master.service mesos-slave.service"));
    assert!(!scripts.contains("systemctl start"), "{scripts}");
    assert!(!scripts.contains("libmesos"), "{scripts}");

    let requires = stdout_of("rpm", &["-qp", "--requires", rpm]);
    assert!(requires.contains("libc.so.6"), "{requires}");
    assert!(!requires.contains("libmesos"), "{requires}");
}

#[test]
fn rpm_installs_into_a_root_and_erases() {
    let Some(rpm) = package(RPM_VAR) else { return };
    // rpm sets owners as it installs: only root can.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(
            std::env::var_os(REQUIRE_VAR).is_none(),
            "{REQUIRE_VAR} is set but installing the .rpm into a root needs root"
        );
        eprintln!("skipped: installing the .rpm into a root needs root");
        return;
    }
    let rpm = rpm.to_str().unwrap();
    let root = tempfile::tempdir().unwrap();
    let root_text = root.path().to_str().unwrap();
    // No scripts (they would enable systemd units on this host) and no
    // dependencies (the root is empty); the database goes inside the root.
    let rpm_in_root = |args: &[&str]| {
        let mut all = vec!["--root", root_text, "--dbpath", "/var/lib/rpm"];
        all.extend_from_slice(args);
        run("rpm", &all)
    };
    let output = rpm_in_root(&["-i", "--nodeps", "--noscripts", rpm]);
    assert!(
        output.status.success(),
        "rpm -i: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let installed = rpm_in_root(&["-q", "mesos"]);
    assert!(
        String::from_utf8_lossy(&installed.stdout).starts_with("mesos-1.11.0-"),
        "{installed:?}"
    );
    for file in stdout_of("rpm", &["-qlp", rpm]).lines() {
        let path = root.path().join(file.trim_start_matches('/'));
        assert!(path.exists(), "{file} not installed");
    }
    for binary in COMMON_FILES
        .iter()
        .filter(|f| f.contains("/bin/") || f.contains("/sbin/") || f.contains("/libexec/"))
    {
        let path = root.path().join(binary.trim_start_matches('/'));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o755, 0o755, "{binary} mode {mode:o}");
    }
    assert_eq!(
        std::fs::read_to_string(root.path().join("etc/mesos/zk")).unwrap(),
        "zk://localhost:2181/mesos\n"
    );
    let version = run(
        root.path().join("usr/sbin/mesos-master").to_str().unwrap(),
        &["--version"],
    );
    assert_eq!(String::from_utf8_lossy(&version.stdout), "mesos 1.11.0\n");

    let output = rpm_in_root(&["-e", "--nodeps", "--noscripts", "mesos"]);
    assert!(
        output.status.success(),
        "rpm -e: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!root.path().join("usr/sbin/mesos-master").exists());
    assert!(!rpm_in_root(&["-q", "mesos"]).status.success());
}

/// A running container, removed on drop.
struct Container {
    id: String,
}

impl Container {
    /// Runs `script` with bash in the container.
    fn sh(&self, script: &str) -> Output {
        run("docker", &["exec", &self.id, "bash", "-c", script])
    }

    /// Like `sh`, failing the test when `script` fails.
    fn ok(&self, script: &str) -> String {
        let output = self.sh(script);
        assert!(
            output.status.success(),
            "{script}: status {:?}\n{}\n{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `GET path` on 127.0.0.1:port inside the container: status line and
    /// body, or `None` when nothing answers.
    fn get(&self, port: u16, path: &str) -> Option<(String, String)> {
        let output = self.sh(&format!(
            "exec 3<>/dev/tcp/127.0.0.1/{port} && \
             printf 'GET {path} HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n' >&3 && cat <&3"
        ));
        if !output.status.success() {
            return None;
        }
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let status = text.lines().next()?.trim().to_string();
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
        Some((status, body))
    }

    fn wait_for(&self, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Whether a process runs `path`.
    fn runs(&self, path: &str) -> bool {
        self.sh(&format!(
            "for p in /proc/[0-9]*; do [ \"$(readlink $p/exe)\" = {path} ] && exit 0; done; exit 1"
        ))
        .status
        .success()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let logs = self.sh("tail -n 50 /var/log/mesos/* 2>/dev/null; ls -l /var/run");
            eprintln!("{}", String::from_utf8_lossy(&logs.stdout));
        }
        run("docker", &["rm", "-f", &self.id]);
    }
}

/// The test image, built once per state of this host's dpkg database
/// (and once per test process).
fn image() -> String {
    static IMAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    IMAGE.get_or_init(build_image).clone()
}

/// Whether docker answers; when it does not, the test is skipped unless
/// it must run.
fn docker_answers() -> bool {
    if run("docker", &["version"]).status.success() {
        return true;
    }
    assert!(
        std::env::var_os(REQUIRE_VAR).is_none(),
        "{REQUIRE_VAR} is set but docker does not answer"
    );
    eprintln!("skipped: docker does not answer");
    false
}

/// A container of the test image with `volumes` (`host:container`), no
/// network but its own loopback (so 5050 and 5051, the defaults, are
/// free) and an init that reaps orphans.
fn start_container(volumes: &[String]) -> Container {
    let image = image();
    let mut args = vec!["run", "-d", "--init", "--network", "none"];
    for volume in volumes {
        args.extend(["-v", volume]);
    }
    args.extend([image.as_str(), "sleep", "infinity"]);
    let output = run("docker", &args);
    assert!(
        output.status.success(),
        "docker run: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Container {
        id: String::from_utf8_lossy(&output.stdout).trim().to_string(),
    }
}

fn build_image() -> String {
    let status = std::fs::read("/var/lib/dpkg/status").expect("a Debian host");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/debian-rootfs");
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in status.iter().chain(std::fs::read(&script).unwrap().iter()) {
        hash = (hash ^ u64::from(*byte)).wrapping_mul(0x100000001b3);
    }
    let tag = format!("mesos-rs-test-debian:{hash:016x}");
    if run("docker", &["image", "inspect", &tag]).status.success() {
        return tag;
    }
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; '{}' | docker import - '{tag}'",
            script.display()
        ))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "building {tag}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    tag
}

#[test]
fn deb_installs_into_a_fresh_debian_and_runs_as_services() {
    let Some(deb) = package(DEB_VAR) else { return };
    if !docker_answers() {
        return;
    }

    // Syslog: a datagram socket standing for the container's /dev/log.
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("log.sock");
    let syslog = UnixDatagram::bind(&socket_path).unwrap();
    syslog
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let container = start_container(&[
        format!("{}:/tmp/mesos.deb:ro", deb.display()),
        format!("{}:/dev/log", socket_path.display()),
    ]);

    // A libmesos.so another package installed: ours must leave it alone.
    container.ok(
        "echo native > /usr/lib/libmesos-1.11.0.so && ln -s libmesos-1.11.0.so /usr/lib/libmesos.so",
    );

    container.ok("dpkg -i /tmp/mesos.deb");
    // Installed, registered for boot, not started.
    assert!(!container.runs("/usr/sbin/mesos-master"));
    assert!(!container.runs("/usr/sbin/mesos-slave"));
    container.ok("test ! -e /var/run/mesos-master.pid && test ! -e /var/run/mesos-slave.pid");
    container.ok("ls /etc/rc2.d/S*mesos-master /etc/rc2.d/S*mesos-slave");
    container.ok("test -d /var/log/mesos && test -d /var/lib/mesos");
    assert_eq!(
        container.ok("cat /etc/mesos/zk"),
        "zk://localhost:2181/mesos\n"
    );

    // A standalone master (no ZooKeeper here), as an operator would set
    // it: the ZK and MASTER lines of /etc/default/mesos-* changed, and the
    // addresses pinned to the loopback with files the wrapper turns into
    // --ip and --hostname; everything else as packaged.
    container.ok("rm /etc/mesos/zk && \
         echo PORT=5050 > /etc/default/mesos-master && \
         echo MASTER=127.0.0.1:5050 > /etc/default/mesos-slave && \
         echo 127.0.0.1 > /etc/mesos-master/ip && \
         echo 127.0.0.1 > /etc/mesos-slave/ip && \
         echo 127.0.0.1 > /etc/mesos-slave/hostname");
    container.ok("service mesos-master start");
    container.ok("service mesos-slave start");
    container.wait_for("the master's /health", || {
        container
            .get(5050, "/health")
            .is_some_and(|(status, _)| status.contains(" 200"))
    });
    container.wait_for("the agent to register", || {
        container
            .get(5050, "/state")
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
            .is_some_and(|state| state["activated_slaves"].as_f64() == Some(1.0))
    });
    container.ok("service mesos-master status");
    container.ok("service mesos-slave status");
    // LOGS=/var/log/mesos in /etc/default/mesos gives --log_dir: glog's
    // files and links.
    container.ok(
        "test -L /var/log/mesos/mesos-master.INFO && test -L /var/log/mesos/mesos-slave.INFO && \
         grep -q '^I.* ' /var/log/mesos/mesos-master.INFO",
    );

    // The agent finds /usr/libexec/mesos/mesos-executor with its defaults.
    let task = container.ok(
        "timeout 60 mesos-execute --master=127.0.0.1:5050 --name=packaged \
         --command='echo from the package' --resources='cpus:0.1;mem:32'",
    );
    assert!(task.contains("TASK_FINISHED"), "{task}");

    // The daemons' output reached syslog, tagged with their pids.
    let master_pid = container.ok("cat /var/run/mesos-master.pid");
    let tag = format!("mesos-master[{}]:", master_pid.trim());
    let mut messages = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buffer = vec![0; 65536];
    while !messages.iter().any(|m: &String| m.contains(&tag)) && Instant::now() < deadline {
        if let Ok(n) = syslog.recv(&mut buffer) {
            messages.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
        }
    }
    assert!(
        messages.iter().any(|m| m.contains(&tag)),
        "no syslog message tagged {tag}: {messages:?}"
    );

    // start on a running service changes nothing; restart replaces the
    // daemon.
    container.ok("service mesos-master start");
    assert_eq!(container.ok("cat /var/run/mesos-master.pid"), master_pid);
    container.ok("service mesos-master restart");
    let restarted_pid = container.ok("cat /var/run/mesos-master.pid");
    assert_ne!(restarted_pid, master_pid);
    container.wait_for("the restarted master's /health", || {
        container
            .get(5050, "/health")
            .is_some_and(|(status, _)| status.contains(" 200"))
    });

    container.ok("service mesos-slave stop");
    container.ok("service mesos-master stop");
    assert!(!container.runs("/usr/sbin/mesos-master"));
    assert!(!container.runs("/usr/sbin/mesos-slave"));
    assert!(container.get(5050, "/health").is_none());
    assert_eq!(
        container.sh("service mesos-master status").status.code(),
        Some(3),
        "LSB status of a stopped service"
    );

    container.ok("dpkg --purge mesos");
    container.ok("test ! -e /usr/sbin/mesos-master && test ! -e /etc/init.d/mesos-master");
    assert_eq!(
        container.ok("cat /usr/lib/libmesos.so"),
        "native\n",
        "the other package's libmesos.so"
    );
}

/// A stand-in for the Mesosphere package `mesos` 1.11.0-2.0.1: their
/// daemon path, a libmesos.so of theirs, and their configuration files
/// (all conffiles, as fpm's `--config-files etc/` makes them).
fn mesosphere_like_deb(dir: &Path) -> PathBuf {
    let root = dir.join("mesosphere");
    let write = |path: &str, text: &str| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("usr/sbin/mesos-master", "#!/bin/sh\necho mesosphere\n");
    write("usr/lib/libmesos-1.11.0.so", "theirs\n");
    write("etc/mesos/zk", "zk://localhost:2181/mesos\n");
    write("etc/mesos-master/quorum", "1\n");
    write(
        "etc/default/mesos",
        "LOGS=/var/log/mesos\nULIMIT=\"-n 8192\"\n",
    );
    write(
        "DEBIAN/control",
        "Package: mesos\nVersion: 1.11.0-2.0.1\nArchitecture: all\n\
         Maintainer: test\nDescription: stand-in\n",
    );
    write(
        "DEBIAN/conffiles",
        "/etc/mesos/zk\n/etc/mesos-master/quorum\n/etc/default/mesos\n",
    );
    let deb = dir.join("mesosphere.deb");
    stdout_of(
        "dpkg-deb",
        &[
            "--root-owner-group",
            "--build",
            root.to_str().unwrap(),
            deb.to_str().unwrap(),
        ],
    );
    deb
}

#[test]
fn deb_upgrades_a_mesosphere_installation_keeping_its_configuration() {
    let Some(deb) = package(DEB_VAR) else { return };
    if !docker_answers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let theirs = mesosphere_like_deb(dir.path());
    let container = start_container(&[
        format!("{}:/tmp/mesos.deb:ro", deb.display()),
        format!("{}:/tmp/mesosphere.deb:ro", theirs.display()),
    ]);
    container.ok("dpkg -i /tmp/mesosphere.deb");
    // The operator's configuration.
    container.ok("echo 3 > /etc/mesos-master/quorum && echo 127.0.0.1 > /etc/mesos-master/ip");

    container.ok("dpkg -i /tmp/mesos.deb");
    let version = stdout_of("dpkg-deb", &["-f", deb.to_str().unwrap(), "Version"]);
    assert_eq!(
        container.ok("dpkg-query -W -f='${Version}' mesos"),
        version.trim()
    );
    assert_eq!(container.ok("cat /etc/mesos-master/quorum"), "3\n");
    assert_eq!(container.ok("cat /etc/mesos-master/ip"), "127.0.0.1\n");
    let version = container.ok("/usr/sbin/mesos-master --version");
    assert!(version.contains(" 1.11.0"), "{version}");
    // The files only their package had go with it, their libmesos.so too
    // (README.md says so).
    container.ok("test ! -e /usr/lib/libmesos-1.11.0.so");
    // Ours are in place.
    container.ok("test -x /usr/libexec/mesos/mesos-executor && test -x /etc/init.d/mesos-slave");
}
