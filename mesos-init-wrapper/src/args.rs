//! The daemon's command line, from the sourced variables and the
//! configuration directories, in the packaged script's order.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::{Failure, Mode, Paths};

/// Variables that become flags, in order, for each mode.
pub fn variable_flags(mode: Mode) -> &'static [(&'static str, &'static str)] {
    match mode {
        Mode::Master => &[
            ("ZK", "zk"),
            ("IP", "ip"),
            ("PORT", "port"),
            ("CLUSTER", "cluster"),
            ("LOGS", "log_dir"),
        ],
        Mode::Slave | Mode::Agent => &[
            ("MASTER", "master"),
            ("IP", "ip"),
            ("LOGS", "log_dir"),
            ("ISOLATION", "isolation"),
        ],
    }
}

/// The arguments after the daemon's path: variables first (each only when
/// non-empty), then one per regular file of `/etc/<service>/`, then, for
/// the agent, `--attributes` and `--resources` from the directories of
/// those names.
pub fn build(
    mode: Mode,
    paths: &Paths,
    vars: &[(OsString, OsString)],
) -> Result<Vec<OsString>, Failure> {
    let mut args = Vec::new();
    for (variable, flag) in variable_flags(mode) {
        if let Some(value) = lookup(vars, variable).filter(|v| !v.is_empty()) {
            args.push(flag_with_value(flag.as_bytes(), value.as_bytes()));
        }
    }
    let dir = paths.under_root(&format!("/etc/{}", mode.service()));
    for entry in entries(&dir) {
        // `[[ -f ]]`: a regular file, through symbolic links.
        if !entry.is_file() {
            continue;
        }
        let name = file_name(&entry);
        match name.strip_prefix(b"?") {
            Some(bare) => {
                let mut arg = b"--".to_vec();
                arg.extend_from_slice(bare);
                args.push(OsString::from_vec(arg));
            }
            None => args.push(flag_with_value(name, &content(&entry)?)),
        }
    }
    if mode != Mode::Master {
        for flag in ["attributes", "resources"] {
            let mut pairs = Vec::new();
            for entry in entries(&dir.join(flag)) {
                // `[[ -s ]]`: exists and is not empty; a directory passes
                // and then fails to be read, as `cat` fails on it.
                let size = std::fs::metadata(&entry).map(|m| m.len()).unwrap_or(0);
                if size == 0 {
                    continue;
                }
                let mut pair = file_name(&entry).to_vec();
                pair.push(b':');
                pair.extend_from_slice(&content(&entry)?);
                pairs.push(pair);
            }
            if !pairs.is_empty() {
                args.push(flag_with_value(flag.as_bytes(), &pairs.join(&b';')));
            }
        }
    }
    Ok(args)
}

/// The value of `name` among `vars`.
pub fn lookup<'a>(vars: &'a [(OsString, OsString)], name: &str) -> Option<&'a OsStr> {
    vars.iter()
        .rev()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_os_str())
}

fn flag_with_value(name: &[u8], value: &[u8]) -> OsString {
    let mut arg = b"--".to_vec();
    arg.extend_from_slice(name);
    arg.push(b'=');
    arg.extend_from_slice(value);
    OsString::from_vec(arg)
}

/// What `"$dir"/*` expands to: the entries not starting with `.`, sorted
/// by name. (The packaged script sorts in the `en_US.UTF-8` collation when
/// that locale is installed and by bytes otherwise; we sort by bytes. Only
/// the order of the flags can differ, never which flags there are.)
fn entries(dir: &Path) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<OsString> = read
        .filter_map(|entry| entry.ok().map(|e| e.file_name()))
        .filter(|name| !name.as_bytes().starts_with(b"."))
        .collect();
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    names.into_iter().map(|name| dir.join(name)).collect()
}

fn file_name(path: &Path) -> &[u8] {
    path.file_name().map(OsStrExt::as_bytes).unwrap_or_default()
}

/// `$(cat "$path")`: the content without its trailing newlines.
fn content(path: &Path) -> Result<Vec<u8>, Failure> {
    let mut bytes = std::fs::read(path).map_err(|e| {
        let reason = if e.raw_os_error() == Some(libc::EISDIR) {
            "Is a directory".to_string()
        } else {
            e.to_string()
        };
        Failure::new(format!("cat: {}: {reason}", path.display()))
    })?;
    while bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn strings(args: Vec<OsString>) -> Vec<String> {
        args.into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    fn paths(root: &Path) -> Paths {
        Paths {
            root: root.to_path_buf(),
            sbin: root.join("usr/sbin"),
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(k, v)| (k.into(), v.into())).collect()
    }

    #[test]
    fn master_variables_in_order_and_empty_ones_skipped() {
        let root = tempfile::tempdir().unwrap();
        let env = vars(&[
            ("LOGS", "/var/log/mesos"),
            ("CLUSTER", ""),
            ("PORT", "5050"),
            ("ZK", "zk://localhost:2181/mesos"),
            ("MASTER", "ignored by the master"),
            ("ISOLATION", "ignored too"),
        ]);
        let args = build(Mode::Master, &paths(root.path()), &env).unwrap();
        assert_eq!(
            strings(args),
            [
                "--zk=zk://localhost:2181/mesos",
                "--port=5050",
                "--log_dir=/var/log/mesos"
            ]
        );
    }

    #[test]
    fn agent_variables_in_order() {
        let root = tempfile::tempdir().unwrap();
        let env = vars(&[
            ("ISOLATION", "posix/cpu"),
            ("IP", "127.0.0.1"),
            ("MASTER", "127.0.0.1:5050"),
            ("PORT", "5051"),
            ("ZK", "zk://x/mesos"),
        ]);
        let args = build(Mode::Slave, &paths(root.path()), &env).unwrap();
        assert_eq!(
            strings(args),
            [
                "--master=127.0.0.1:5050",
                "--ip=127.0.0.1",
                "--isolation=posix/cpu"
            ]
        );
    }

    #[test]
    fn files_become_flags_and_question_marks_bare_flags() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("etc/mesos-master");
        fs::create_dir_all(dir.join("subdir")).unwrap();
        fs::write(dir.join("work_dir"), "/var/lib/mesos\n\n").unwrap();
        fs::write(dir.join("quorum"), "1\n").unwrap();
        fs::write(dir.join("?no-hostname_lookup"), "ignored").unwrap();
        fs::write(dir.join("?quiet"), "").unwrap();
        fs::write(dir.join(".hidden"), "x").unwrap();
        fs::write(dir.join("subdir/port"), "1").unwrap();
        fs::write(dir.join("empty"), "").unwrap();
        std::os::unix::fs::symlink(dir.join("quorum"), dir.join("linked")).unwrap();
        let args = build(Mode::Master, &paths(root.path()), &[]).unwrap();
        assert_eq!(
            strings(args),
            [
                "--no-hostname_lookup",
                "--quiet",
                "--empty=",
                "--linked=1",
                "--quorum=1",
                "--work_dir=/var/lib/mesos"
            ]
        );
    }

    #[test]
    fn attributes_and_resources_directories_are_joined() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("etc/mesos-slave");
        fs::create_dir_all(dir.join("attributes")).unwrap();
        fs::create_dir_all(dir.join("resources")).unwrap();
        fs::write(dir.join("attributes/rack"), "north-west\n").unwrap();
        fs::write(dir.join("attributes/os"), "debian").unwrap();
        fs::write(dir.join("attributes/empty"), "").unwrap();
        fs::write(dir.join("resources/cpus"), "4\n").unwrap();
        fs::write(dir.join("work_dir"), "/var/lib/mesos\n").unwrap();
        let args = build(
            Mode::Agent,
            &paths(root.path()),
            &vars(&[("MASTER", "m:5050")]),
        )
        .unwrap();
        assert_eq!(
            strings(args),
            [
                "--master=m:5050",
                "--work_dir=/var/lib/mesos",
                "--attributes=os:debian;rack:north-west",
                "--resources=cpus:4"
            ]
        );
    }

    #[test]
    fn the_master_ignores_attribute_directories() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("etc/mesos-master/attributes");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("rack"), "a").unwrap();
        assert!(
            build(Mode::Master, &paths(root.path()), &[])
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_directory_among_the_attributes_fails_as_cat_does() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("etc/mesos-slave/attributes/sub");
        fs::create_dir_all(&dir).unwrap();
        // A directory's size is not zero once it has an entry.
        fs::write(dir.join("file"), "x").unwrap();
        let failure = build(Mode::Slave, &paths(root.path()), &[]).unwrap_err();
        assert_eq!(failure.status, 1);
        assert!(
            failure.message.ends_with("sub: Is a directory"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn a_missing_directory_gives_no_flags() {
        let root = tempfile::tempdir().unwrap();
        assert!(
            build(Mode::Slave, &paths(root.path()), &[])
                .unwrap()
                .is_empty()
        );
    }
}
