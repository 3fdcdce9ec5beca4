//! Against the host's real cgroups (they need root); each test says why
//! it skips where they are not available.

use super::*;
use crate::containerizer::ContainerLimits;

const MOUNTINFO: &str = "\
25 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
33 25 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
34 33 0:29 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw
37 33 0:32 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
38 33 0:33 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory
39 33 0:34 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,freezer
40 33 0:35 / /mnt/my\\040pids rw,relatime - cgroup cgroup rw,pids
";

#[test]
fn finds_v1_hierarchies_in_mountinfo() {
    let mounts = cgroup_mounts(MOUNTINFO);
    assert_eq!(mounts.len(), 5);
    assert_eq!(mounts[0].fs_type, "cgroup2");
    assert_eq!(mounts[1].point, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
    assert_eq!(
        mounts[1].subsystems,
        BTreeSet::from(["cpu".to_string(), "cpuacct".to_string()])
    );
    assert_eq!(mounts[4].point, Path::new("/mnt/my pids"));

    let config = CgroupsConfig {
        cpu: true,
        mem: true,
        pids: true,
        hierarchy: PathBuf::from("/nonexistent/cgroup"),
        ..CgroupsConfig::new()
    };
    let cgroups = Cgroups::detect_in(&config, MOUNTINFO).unwrap();
    assert_eq!(cgroups.version(), Version::V1);
    // cpu and cpuacct share one hierarchy; the freezer comes along.
    let points: Vec<&Path> = cgroups
        .hierarchies
        .iter()
        .map(|(p, _)| p.as_path())
        .collect();
    assert_eq!(
        points,
        vec![
            Path::new("/sys/fs/cgroup/cpu,cpuacct"),
            Path::new("/sys/fs/cgroup/memory"),
            Path::new("/mnt/my pids"),
            Path::new("/sys/fs/cgroup/freezer"),
        ]
    );
    assert_eq!(
        cgroups.container_dirs("c1")[1],
        Path::new("/sys/fs/cgroup/memory/mesos/c1")
    );

    let missing = CgroupsConfig {
        mem: true,
        ..CgroupsConfig::new()
    };
    let only_cpu = MOUNTINFO
        .lines()
        .filter(|l| !l.contains("memory"))
        .collect::<Vec<_>>()
        .join("\n");
    let error = Cgroups::detect_in(&missing, &only_cpu).unwrap_err();
    assert!(
        error.to_string().contains("'memory' is not mounted"),
        "{error}"
    );
}

/// The host's cgroups under a test's own root; whatever the test leaves
/// there (when it fails) is destroyed when this goes.
struct Host(Cgroups);

impl std::ops::Deref for Host {
    type Target = Cgroups;
    fn deref(&self) -> &Cgroups {
        &self.0
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        for container_id in self.0.orphans() {
            let _ = self.0.open(&container_id).destroy();
        }
        remove_root(&self.0);
    }
}

/// The host's cgroups for `config`, or why a test skips.
fn host(config: &CgroupsConfig) -> Option<Host> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: cgroups need root");
        return None;
    }
    match Cgroups::detect(config) {
        Ok(cgroups) => Some(Host(cgroups)),
        Err(e) => {
            eprintln!("skipped: cgroups unavailable here: {e}");
            None
        }
    }
}

fn unique_root(test: &str) -> String {
    format!("mesos-test-{test}-{}", std::process::id())
}

fn config(root: &str) -> CgroupsConfig {
    CgroupsConfig {
        root: root.to_string(),
        cpu: true,
        mem: true,
        pids: true,
        ..CgroupsConfig::new()
    }
}

/// Removes the test's `--cgroups_root` from every hierarchy.
fn remove_root(cgroups: &Cgroups) {
    for (mount, _) in &cgroups.hierarchies {
        let _ = std::fs::remove_dir(mount.join(&cgroups.config.root));
    }
}

/// Runs `script` in the container's cgroups: the shell waits on its
/// stdin until it has been moved, so all it forks is in them.
fn spawn_in(cgroups: &ContainerCgroups, script: &str) -> std::process::Child {
    use std::io::Write;
    let mut child = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("read gate; {script}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    cgroups.assign(child.id()).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"go\n").unwrap();
    child
}

#[test]
fn limits_are_written_as_mesos_computes_them() {
    let root = unique_root("limits");
    let Some(cgroups) = host(&CgroupsConfig {
        enable_cfs: true,
        ..config(&root)
    }) else {
        return;
    };
    let limits = ContainerLimits {
        cpus: Some(0.6),
        mem: Some(96.0),
        ..ContainerLimits::default()
    };
    let mut container = cgroups.create("c1", &limits).unwrap();
    let read = |dir: &Option<PathBuf>, file: &str| {
        std::fs::read_to_string(dir.as_ref().unwrap().join(file))
            .unwrap()
            .trim()
            .to_string()
    };
    match cgroups.version() {
        Version::V1 => {
            assert_eq!(read(&container.cpu, "cpu.shares"), "614");
            assert_eq!(read(&container.cpu, "cpu.cfs_period_us"), "100000");
            assert_eq!(read(&container.cpu, "cpu.cfs_quota_us"), "60000");
            assert_eq!(
                read(&container.memory, "memory.limit_in_bytes"),
                (96 * 1024 * 1024).to_string()
            );
            assert_eq!(
                read(&container.memory, "memory.soft_limit_in_bytes"),
                (96 * 1024 * 1024).to_string()
            );
        }
        Version::V2 => {
            assert_eq!(read(&container.cpu, "cpu.weight"), "60");
            assert_eq!(read(&container.cpu, "cpu.max"), "60000 100000");
            assert_eq!(
                read(&container.memory, "memory.max"),
                (96 * 1024 * 1024).to_string()
            );
        }
    }
    // Raising the limit raises it; lowering leaves the hard limit.
    container
        .update(&ContainerLimits {
            cpus: Some(1.0),
            mem: Some(128.0),
            ..limits
        })
        .unwrap();
    container.update(&limits).unwrap();
    if cgroups.version() == Version::V1 {
        assert_eq!(read(&container.cpu, "cpu.shares"), "614");
        assert_eq!(
            read(&container.memory, "memory.limit_in_bytes"),
            (128 * 1024 * 1024).to_string()
        );
    }
    let dirs = container.dirs().to_vec();
    container.destroy().unwrap();
    assert!(dirs.iter().all(|d| !d.exists()), "{dirs:?}");
    remove_root(&cgroups);
}

#[test]
fn destroy_kills_every_process_in_the_cgroup() {
    let root = unique_root("destroy");
    let Some(cgroups) = host(&config(&root)) else {
        return;
    };
    let mut container = cgroups.create("c2", &ContainerLimits::default()).unwrap();
    // A shell with a background child that left its session: only the
    // cgroup still finds it.
    let mut child = spawn_in(&container, "setsid sleep 1000 & sleep 1000");
    let deadline = Instant::now() + Duration::from_secs(5);
    while container.processes().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let members = container.processes();
    assert!(members.len() >= 2, "{members:?}");
    let dirs = container.dirs().to_vec();
    container.destroy().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    for pid in members {
        // SAFETY: signal 0 only checks for existence.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z");
        assert!(!alive, "process {pid} survived");
    }
    assert!(dirs.iter().all(|d| !d.exists()), "{dirs:?}");
    remove_root(&cgroups);
}

#[tokio::test]
async fn the_oom_killer_is_noticed() {
    let root = unique_root("oom");
    let Some(cgroups) = host(&config(&root)) else {
        return;
    };
    let limits = ContainerLimits {
        cpus: Some(0.1),
        mem: Some(32.0),
        ..ContainerLimits::default()
    };
    let mut container = cgroups.create("c3", &limits).unwrap();
    assert_eq!(container.oom_kills(), Some(0));
    let dir = container.memory_dir().unwrap().to_path_buf();
    let watch = tokio::spawn(oom::watch(cgroups.version(), dir));
    // `tail` holds a line without a newline in memory: 200 MB of it.
    let mut child = spawn_in(&container, "head -c 200M /dev/zero | tail");
    let noticed = tokio::time::timeout(Duration::from_secs(30), watch)
        .await
        .expect("no OOM noticed within 30s")
        .unwrap();
    assert!(noticed);
    assert!(container.oom_kills().unwrap() >= 1);
    let (message, used) = container.oom_message();
    assert!(
        message.starts_with("Memory limit exceeded: Requested: 32MB Maximum Used: "),
        "{message}"
    );
    assert!(used > 30.0 && used <= 33.0, "{used}");
    container.destroy().unwrap();
    let _ = child.wait();
    remove_root(&cgroups);
}

#[test]
fn v2_cgroups_are_made_joined_and_killed() {
    // The unified hierarchy of a hybrid host, with no controllers needed.
    let unified = PathBuf::from("/sys/fs/cgroup/unified");
    if !is_cgroup2(&unified) {
        eprintln!("skipped: no cgroup2 mount at {}", unified.display());
        return;
    }
    let root = unique_root("v2");
    let config = CgroupsConfig {
        hierarchy: unified.clone(),
        root: root.clone(),
        ..CgroupsConfig::new()
    };
    let Some(cgroups) = host(&config) else {
        return;
    };
    assert_eq!(cgroups.version(), Version::V2);
    let mut container = cgroups.create("c4", &ContainerLimits::default()).unwrap();
    let mut child = spawn_in(&container, "sleep 1000 & sleep 1000");
    let deadline = Instant::now() + Duration::from_secs(5);
    while container.processes().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(container.processes().len() >= 2);
    let dirs = container.dirs().to_vec();
    container.destroy().unwrap();
    assert!(!child.wait().unwrap().success());
    assert!(dirs.iter().all(|d| !d.exists()), "{dirs:?}");
    let _ = std::fs::remove_dir(unified.join(&root));
}

#[test]
fn orphans_are_found_and_destroyed() {
    let root = unique_root("orphans");
    let Some(cgroups) = host(&config(&root)) else {
        return;
    };
    assert!(cgroups.orphans().is_empty());
    let container = cgroups
        .create("left-behind", &ContainerLimits::default())
        .unwrap();
    let mut child = spawn_in(&container, "sleep 1000");
    drop(container);
    assert_eq!(cgroups.orphans(), vec!["left-behind".to_string()]);
    let mut orphan = cgroups.open("left-behind");
    assert_eq!(orphan.dirs().len(), cgroups.root_dirs().len());
    orphan.destroy().unwrap();
    assert!(!child.wait().unwrap().success());
    assert!(cgroups.orphans().is_empty());
    remove_root(&cgroups);
}
