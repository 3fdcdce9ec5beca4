//! The flag conventions Mesos daemons share: durations and byte sizes as
//! Mesos writes them (`1secs`, `15secs`, `1GB`), boolean flags that may
//! stand alone, and `file://` values read from a file.

use std::time::Duration;

/// Why a flag value is invalid.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FlagError {
    /// Not a Mesos duration.
    #[error(
        "invalid duration '{0}': expected a number and a unit (ns, us, ms, secs, mins, hrs, days, weeks)"
    )]
    Duration(String),
    /// Not a Mesos byte size.
    #[error("invalid byte size '{0}': expected a number and a unit (B, KB, MB, GB, TB)")]
    Bytes(String),
    /// A `file://` value whose file cannot be read.
    #[error("failed to read '{path}' for flag '{flag}': {error}")]
    File {
        /// The flag.
        flag: String,
        /// The file.
        path: String,
        /// What went wrong.
        error: String,
    },
}

fn split_number(text: &str) -> Option<(f64, &str)> {
    let text = text.trim();
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(text.len());
    let value: f64 = text[..end].parse().ok()?;
    Some((value, text[end..].trim()))
}

/// Parses a Mesos duration: `10ms`, `1secs`, `1.5mins`, `2hrs`, `1days`,
/// `1weeks` (singular units too, and `s`, `m`, `h`, `d`, `w`).
pub fn parse_duration(text: &str) -> Result<Duration, FlagError> {
    let bad = || FlagError::Duration(text.to_string());
    let (value, unit) = split_number(text).ok_or_else(bad)?;
    let seconds = match unit {
        "ns" | "nsecs" => 1e-9,
        "us" | "usecs" => 1e-6,
        "ms" | "msecs" => 1e-3,
        "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86400.0,
        "w" | "week" | "weeks" => 604800.0,
        _ => return Err(bad()),
    };
    if value < 0.0 || !value.is_finite() {
        return Err(bad());
    }
    Duration::try_from_secs_f64(value * seconds).map_err(|_| bad())
}

/// Formats a duration as Mesos prints it in `/flags` (`1secs`, `15secs`,
/// `10ms`, `1mins`).
pub fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    let units: [(u128, &str); 8] = [
        (604_800_000_000_000, "weeks"),
        (86_400_000_000_000, "days"),
        (3_600_000_000_000, "hrs"),
        (60_000_000_000, "mins"),
        (1_000_000_000, "secs"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    for (size, name) in units {
        if nanos >= size {
            let value = nanos as f64 / size as f64;
            return format!("{}{name}", trim_float(value));
        }
    }
    "0ns".to_string()
}

fn trim_float(value: f64) -> String {
    let text = format!("{value:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Parses a Mesos byte size: `512MB`, `1GB`, `100B`, `4KB`, `1TB`.
pub fn parse_bytes(text: &str) -> Result<u64, FlagError> {
    let bad = || FlagError::Bytes(text.to_string());
    let (value, unit) = split_number(text).ok_or_else(bad)?;
    let factor: f64 = match unit {
        "B" | "" => 1.0,
        "KB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        "GB" => 1024.0 * 1024.0 * 1024.0,
        "TB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    if value < 0.0 || !value.is_finite() {
        return Err(bad());
    }
    Ok((value * factor) as u64)
}

/// Replaces every `--flag=file://path` argument by `--flag=<contents of
/// path>` (trailing newline trimmed), as Mesos's flag parser does.
pub fn expand_file_values(args: Vec<String>) -> Result<Vec<String>, FlagError> {
    expand_file_values_except(args, &[])
}

/// [`expand_file_values`], leaving the flags in `paths` as they are: Mesos
/// keeps the path of its path-typed flags (`--credentials`, `--whitelist`,
/// `--credential`, `--http_credentials`, `--jwt_secret_key`) for whoever
/// reads the file later.
pub fn expand_file_values_except(
    args: Vec<String>,
    paths: &[&str],
) -> Result<Vec<String>, FlagError> {
    args.into_iter()
        .map(|arg| {
            let Some((flag, value)) = arg.split_once('=') else {
                return Ok(arg);
            };
            let Some(path) = value.strip_prefix("file://") else {
                return Ok(arg);
            };
            if !flag.starts_with("--") || paths.contains(&flag.trim_start_matches('-')) {
                return Ok(arg);
            }
            let contents = std::fs::read_to_string(path).map_err(|e| FlagError::File {
                flag: flag.trim_start_matches('-').to_string(),
                path: path.to_string(),
                error: e.to_string(),
            })?;
            Ok(format!(
                "{flag}={}",
                contents.trim_end_matches(['\n', '\r'])
            ))
        })
        .collect()
}

/// Rewrites Mesos's `--no-<flag>` form of a false boolean into
/// `--<flag>=false` for the flags in `booleans`.
pub fn expand_negations(args: Vec<String>, booleans: &[&str]) -> Vec<String> {
    args.into_iter()
        .map(|arg| match arg.strip_prefix("--no-") {
            Some(name) if booleans.contains(&name) => format!("--{name}=false"),
            _ => arg,
        })
        .collect()
}

/// Adds `--<flag>=<value>` for every `MESOS_<FLAG>` variable of `env` that
/// names a flag (or alias) of `command` not already on the command line,
/// as Mesos's flag loader does; other `MESOS_*` variables are ignored.
pub fn with_environment(
    command: &clap::Command,
    mut args: Vec<String>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Vec<String> {
    let given: Vec<String> = args
        .iter()
        .filter_map(|a| a.strip_prefix("--"))
        .map(|a| {
            let name = a.split('=').next().unwrap_or(a);
            name.strip_prefix("no-").unwrap_or(name).to_string()
        })
        .collect();
    let mut added = Vec::new();
    for (key, value) in env {
        let Some(name) = key.strip_prefix("MESOS_") else {
            continue;
        };
        let name = name.to_ascii_lowercase();
        let Some(arg) = command.get_arguments().find(|arg| {
            arg.get_long() == Some(name.as_str())
                || arg
                    .get_all_aliases()
                    .is_some_and(|a| a.contains(&name.as_str()))
        }) else {
            continue;
        };
        let long = arg.get_long().unwrap_or(&name).to_string();
        let names: Vec<&str> = std::iter::once(long.as_str())
            .chain(arg.get_all_aliases().unwrap_or_default())
            .collect();
        if given.iter().any(|g| names.contains(&g.as_str())) {
            continue;
        }
        added.push(format!("--{long}={value}"));
    }
    added.sort();
    args.extend(added);
    args
}

/// The Mesos release these binaries are compatible with.
pub const MESOS_VERSION: &str = "1.11.0";

/// What `mesos-master --version` and `mesos-agent --version` print (Mesos
/// prints `mesos <version>`, not the program's name).
pub fn version_line() -> String {
    format!("mesos {MESOS_VERSION}")
}

/// Whether `args` (program name first) ask for the version: `--version`,
/// `--version=true` (Mesos's boolean forms); parsing stops at `--`.
pub fn version_requested(args: &[String]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| a.as_str() != "--")
        .any(|a| matches!(a.as_str(), "--version" | "--version=true" | "--version=1"))
}

/// Prints [`version_line`] and exits with success when the process's
/// arguments ask for the version (and not for help), before any other
/// flag is looked at, as Mesos's daemons do.
pub fn exit_if_version_requested() {
    let args: Vec<String> = std::env::args().collect();
    if version_requested(&args) && !args.iter().any(|a| a == "--help") {
        println!("{}", version_line());
        std::process::exit(0);
    }
}

/// What [`normalize`] makes of a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// The arguments, each flag under its own name (aliases replaced) and
    /// booleans written `--<flag>=true|false`.
    pub args: Vec<String>,
    /// Mesos's warnings, one per deprecated alias used ("Loaded
    /// deprecated flag 'x'").
    pub warnings: Vec<String>,
}

/// Checks and rewrites `args` (program name first) the way Mesos's flag
/// loader reads them, with Mesos's error messages: every `--name` must be
/// a flag or alias of `command` ("Failed to load unknown flag 'x'"),
/// `--no-<name>` is only for the `booleans` (which may also stand alone
/// or take an empty value, meaning true), a non-boolean needs a value, and
/// no flag may be given twice under its name or an alias ("Flag 'x' is
/// already loaded via name 'y'"). Aliases are replaced by the flag's name.
/// Arguments not starting with `--` are left as they are, and reading
/// stops at `--`, as in Mesos.
pub fn normalize(
    command: &clap::Command,
    args: Vec<String>,
    booleans: &[&str],
) -> Result<Normalized, String> {
    let lookup = |name: &str| -> Option<(String, bool)> {
        if name == "help" || name == "version" {
            return Some((name.to_string(), false));
        }
        command.get_arguments().find_map(|arg| {
            let long = arg.get_long()?;
            if long == name {
                Some((long.to_string(), false))
            } else if arg.get_all_aliases().is_some_and(|a| a.contains(&name)) {
                Some((long.to_string(), true))
            } else {
                None
            }
        })
    };
    let mut loaded: Vec<(String, String)> = Vec::new();
    let mut out = Vec::with_capacity(args.len());
    let mut warnings = Vec::new();
    let mut rest = args.into_iter();
    if let Some(program) = rest.next() {
        out.push(program);
    }
    for arg in rest.by_ref() {
        if arg == "--" {
            out.push(arg);
            break;
        }
        let Some(flag) = arg.strip_prefix("--") else {
            out.push(arg);
            continue;
        };
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (flag, None),
        };
        let (negated, bare) = match name.strip_prefix("no-") {
            Some(bare) => (true, bare),
            None => (false, name),
        };
        let Some((long, deprecated)) = lookup(bare) else {
            return Err(if negated {
                format!("Failed to load unknown flag '{bare}' via '{name}'")
            } else {
                format!("Failed to load unknown flag '{bare}'")
            });
        };
        if let Some((_, via)) = loaded.iter().find(|(l, _)| *l == long) {
            return Err(format!("Flag '{bare}' is already loaded via name '{via}'"));
        }
        let boolean = booleans.contains(&long.as_str()) || long == "help" || long == "version";
        let rewritten = if boolean {
            match (negated, value) {
                (false, None | Some("")) => format!("--{long}=true"),
                (false, Some(value)) => format!("--{long}={value}"),
                (true, None | Some("")) => format!("--{long}=false"),
                (true, Some(value)) => {
                    return Err(format!(
                        "Failed to load boolean flag '{bare}' via '{name}' with value '{value}'"
                    ));
                }
            }
        } else if negated {
            return Err(format!(
                "Failed to load non-boolean flag '{bare}' via '{name}'"
            ));
        } else if let Some(value) = value {
            format!("--{long}={value}")
        } else {
            return Err(format!(
                "Failed to load non-boolean flag '{bare}': Missing value"
            ));
        };
        if deprecated {
            warnings.push(format!("Loaded deprecated flag '{bare}'"));
        }
        // clap's own help and version take no value: `=false` drops them.
        match long.as_str() {
            "help" | "version" if rewritten.ends_with("=true") => out.push(format!("--{long}")),
            "help" | "version" => {}
            _ => out.push(rewritten),
        }
        loaded.push((long, bare.to_string()));
    }
    out.extend(rest);
    Ok(Normalized {
        args: out,
        warnings,
    })
}

/// The type of a flag whose value is kept as text (flags accepted but not
/// implemented yet), so that a value Mesos would refuse is refused too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `true` or `false`.
    Bool,
    /// A duration: `10secs`.
    Duration,
    /// A byte size: `64MB`.
    Bytes,
    /// A whole number.
    Integer,
    /// A number: `0.8`.
    Number,
}

/// Checks the values of the flags of `kinds` in `args` (as [`normalize`]
/// leaves them: `--name=value`), with Mesos's message for a bad one:
/// "Failed to load flag 'x': Failed to load value 'v': ...".
pub fn check_values(args: &[String], kinds: &[(&str, Kind)]) -> Result<(), String> {
    for arg in args.iter().skip(1).take_while(|a| a.as_str() != "--") {
        let Some((name, value)) = arg.strip_prefix("--").and_then(|a| a.split_once('=')) else {
            continue;
        };
        let Some((_, kind)) = kinds.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        let checked = match kind {
            Kind::Bool => parse_bool(value).map(drop),
            Kind::Duration => parse_duration(value).map(drop).map_err(|e| e.to_string()),
            Kind::Bytes => parse_bytes(value).map(drop).map_err(|e| e.to_string()),
            Kind::Integer => value
                .trim()
                .parse::<i64>()
                .map(drop)
                .map_err(|e| format!("Failed to convert into required type: {e}")),
            Kind::Number => value
                .trim()
                .parse::<f64>()
                .map(drop)
                .map_err(|e| format!("Failed to convert into required type: {e}")),
        };
        if let Err(error) = checked {
            if value.starts_with("file://") {
                continue;
            }
            return Err(format!(
                "Failed to load flag '{name}': Failed to load value '{value}': {error}"
            ));
        }
    }
    Ok(())
}

/// Parses a Mesos boolean flag value (`true`/`false`, also `1`/`0`).
pub fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        other => Err(format!(
            "invalid boolean '{other}': expected 'true' or 'false'"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_mesos_writes_them() {
        assert_eq!(parse_duration("1secs").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_duration("15secs").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_duration("10ms").unwrap(), Duration::from_millis(10));
        assert_eq!(parse_duration("1.5mins").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2hrs").unwrap(), Duration::from_secs(7200));
        assert_eq!(
            parse_duration("1weeks").unwrap(),
            Duration::from_secs(604800)
        );
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("-1secs").is_err());
        assert!(parse_duration("1fortnight").is_err());
        assert_eq!(format_duration(Duration::from_secs(1)), "1secs");
        assert_eq!(format_duration(Duration::from_secs(90)), "1.5mins");
        assert_eq!(format_duration(Duration::from_millis(10)), "10ms");
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("1GB").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("512MB").unwrap(), 512 << 20);
        assert!(parse_bytes("1XB").is_err());
    }

    #[test]
    fn file_values_and_negations() {
        let path = std::env::temp_dir().join(format!("mesos-flag-{}", std::process::id()));
        std::fs::write(&path, "secret\n").unwrap();
        let args = vec![
            "mesos-master".to_string(),
            format!("--credentials=file://{}", path.display()),
            "--no-quiet".to_string(),
        ];
        let args = expand_negations(expand_file_values(args).unwrap(), &["quiet"]);
        assert_eq!(
            args,
            ["mesos-master", "--credentials=secret", "--quiet=false"]
        );
        std::fs::remove_file(&path).unwrap();
        let missing = expand_file_values(vec!["--acls=file:///nonexistent/x".into()]);
        assert!(matches!(missing, Err(FlagError::File { .. })));
    }

    #[test]
    fn normalize_reads_flags_as_mesos_does() {
        let command = clap::Command::new("t")
            .arg(clap::Arg::new("port").long("port"))
            .arg(clap::Arg::new("quiet").long("quiet"))
            .arg(
                clap::Arg::new("agent_ping_timeout")
                    .long("agent_ping_timeout")
                    .alias("slave_ping_timeout"),
            );
        let run = |args: &[&str]| {
            let args = std::iter::once("t")
                .chain(args.iter().copied())
                .map(String::from)
                .collect();
            normalize(&command, args, &["quiet"])
        };
        let normalized = run(&["--quiet", "--slave_ping_timeout=1secs", "extra"]).unwrap();
        assert_eq!(
            normalized.args,
            ["t", "--quiet=true", "--agent_ping_timeout=1secs", "extra"]
        );
        assert_eq!(
            normalized.warnings,
            ["Loaded deprecated flag 'slave_ping_timeout'"]
        );
        assert_eq!(run(&["--no-quiet"]).unwrap().args, ["t", "--quiet=false"]);
        assert_eq!(run(&["--quiet="]).unwrap().args, ["t", "--quiet=true"]);
        assert_eq!(
            run(&["--bogus"]).unwrap_err(),
            "Failed to load unknown flag 'bogus'"
        );
        assert_eq!(
            run(&["--port=1", "--port=2"]).unwrap_err(),
            "Flag 'port' is already loaded via name 'port'"
        );
        assert_eq!(run(&["--version"]).unwrap().args, ["t", "--version"]);
        assert!(version_requested(&["t".into(), "--version".into()]));
        assert!(!version_requested(&[
            "t".into(),
            "--".into(),
            "--version".into()
        ]));
        assert_eq!(version_line(), "mesos 1.11.0");
    }
}
