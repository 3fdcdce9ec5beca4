//! `ulimit $ULIMIT`: bash's `ulimit` builtin, as the packaged script runs
//! it on the value of `ULIMIT` split into words (`-n 8192` by default).
//!
//! The options are bash's on Linux: `-S` and `-H` choose the soft or hard
//! limit (both when setting with neither, the soft one when printing);
//! `-a` prints every limit; each resource letter takes the rest of its word
//! or the next word not starting with `-` as its value (`unlimited`,
//! `hard`, `soft` or a number in the resource's unit); a bare operand
//! belongs to `-f`. A letter without a value prints the limit, labelled
//! when several are printed. Errors read and exit as bash's do: 2 for an
//! invalid option, 1 for a bad number or a limit the kernel refuses.

use std::io::Write;

use crate::Failure;

/// One limit bash knows: its letter, `setrlimit` resource (`None` for the
/// read-only pipe size), unit factor, description and unit name.
struct Limit {
    letter: char,
    resource: Option<i32>,
    factor: u64,
    description: &'static str,
    unit: Option<&'static str>,
}

const LIMITS: &[Limit] = &[
    limit(
        'R',
        Some(15),
        1,
        "real-time non-blocking time",
        Some("microseconds"),
    ),
    limit(
        'c',
        Some(libc::RLIMIT_CORE as i32),
        1024,
        "core file size",
        Some("blocks"),
    ),
    limit(
        'd',
        Some(libc::RLIMIT_DATA as i32),
        1024,
        "data seg size",
        Some("kbytes"),
    ),
    limit(
        'e',
        Some(libc::RLIMIT_NICE as i32),
        1,
        "scheduling priority",
        None,
    ),
    limit(
        'f',
        Some(libc::RLIMIT_FSIZE as i32),
        1024,
        "file size",
        Some("blocks"),
    ),
    limit(
        'i',
        Some(libc::RLIMIT_SIGPENDING as i32),
        1,
        "pending signals",
        None,
    ),
    limit(
        'l',
        Some(libc::RLIMIT_MEMLOCK as i32),
        1024,
        "max locked memory",
        Some("kbytes"),
    ),
    limit(
        'm',
        Some(libc::RLIMIT_RSS as i32),
        1024,
        "max memory size",
        Some("kbytes"),
    ),
    limit('n', Some(libc::RLIMIT_NOFILE as i32), 1, "open files", None),
    limit('p', None, 512, "pipe size", Some("512 bytes")),
    limit(
        'q',
        Some(libc::RLIMIT_MSGQUEUE as i32),
        1,
        "POSIX message queues",
        Some("bytes"),
    ),
    limit(
        'r',
        Some(libc::RLIMIT_RTPRIO as i32),
        1,
        "real-time priority",
        None,
    ),
    limit(
        's',
        Some(libc::RLIMIT_STACK as i32),
        1024,
        "stack size",
        Some("kbytes"),
    ),
    limit(
        't',
        Some(libc::RLIMIT_CPU as i32),
        1,
        "cpu time",
        Some("seconds"),
    ),
    limit(
        'u',
        Some(libc::RLIMIT_NPROC as i32),
        1,
        "max user processes",
        None,
    ),
    limit(
        'v',
        Some(libc::RLIMIT_AS as i32),
        1024,
        "virtual memory",
        Some("kbytes"),
    ),
    limit('x', Some(libc::RLIMIT_LOCKS as i32), 1, "file locks", None),
];

const fn limit(
    letter: char,
    resource: Option<i32>,
    factor: u64,
    description: &'static str,
    unit: Option<&'static str>,
) -> Limit {
    Limit {
        letter,
        resource,
        factor,
        description,
        unit,
    }
}

/// The pipe size bash reports: `PIPE_BUF` in 512-byte blocks.
const PIPE_SIZE: u64 = 4096 / 512;

/// One resource option with its value, if any.
struct Command {
    limit: &'static Limit,
    value: Option<String>,
}

/// Runs `ulimit` on `spec` split into words, printing to `out`. Messages
/// for errors that do not stop the rest go to standard error as they
/// happen; the result is the builtin's status.
pub fn apply(spec: &str, out: &mut dyn Write) -> Result<(), Failure> {
    let words: Vec<&str> = spec.split_ascii_whitespace().collect();
    let mut soft = false;
    let mut hard = false;
    let mut all = false;
    let mut commands: Vec<Command> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let word = words[i];
        i += 1;
        if word == "--" {
            continue;
        }
        let Some(cluster) = word.strip_prefix('-').filter(|c| !c.is_empty()) else {
            // An operand: the value of the last option, or of `-f`.
            match commands.last_mut() {
                None => commands.push(Command {
                    limit: find('f').expect("bash knows -f"),
                    value: Some(word.to_string()),
                }),
                Some(last) if last.value.is_none() => last.value = Some(word.to_string()),
                Some(_) => {}
            }
            continue;
        };
        for (at, letter) in cluster.char_indices() {
            match letter {
                'S' => soft = true,
                'H' => hard = true,
                'a' => all = true,
                _ => {
                    let Some(limit) = find(letter) else {
                        return Err(Failure {
                            status: 2,
                            message: format!(
                                "ulimit: -{letter}: invalid option\n\
                                 ulimit: usage: ulimit [-SHabcdefiklmnpqrstuvxPRT] [limit]"
                            ),
                        });
                    };
                    let rest = &cluster[at + letter.len_utf8()..];
                    let value = if !rest.is_empty() {
                        Some(rest.to_string())
                    } else if i < words.len() && !words[i].starts_with('-') {
                        i += 1;
                        Some(words[i - 1].to_string())
                    } else {
                        None
                    };
                    let takes_rest = value.is_some() && !rest.is_empty();
                    commands.push(Command { limit, value });
                    if takes_rest {
                        break;
                    }
                }
            }
        }
    }
    if all {
        for limit in LIMITS {
            print(out, limit, hard && !soft, true)?;
        }
        return Ok(());
    }
    if commands.is_empty() {
        commands.push(Command {
            limit: find('f').expect("bash knows -f"),
            value: None,
        });
    }
    let labelled = commands.len() > 1;
    let mut status = Ok(());
    for command in &commands {
        let result = match &command.value {
            None => print(out, command.limit, hard && !soft, labelled),
            Some(value) => set(command.limit, value, soft, hard),
        };
        if let Err(failure) = result {
            eprintln!("mesos-init-wrapper: {}", failure.message);
            status = Err(Failure {
                status: failure.status,
                message: String::new(),
            });
        }
    }
    status
}

fn find(letter: char) -> Option<&'static Limit> {
    LIMITS.iter().find(|limit| limit.letter == letter)
}

fn get(resource: i32) -> Result<libc::rlimit, std::io::Error> {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `current` is a valid rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(resource as _, &mut current) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(current)
}

fn print(out: &mut dyn Write, limit: &Limit, hard: bool, labelled: bool) -> Result<(), Failure> {
    let value = match limit.resource {
        None => PIPE_SIZE.to_string(),
        Some(resource) => {
            let current = get(resource).map_err(|e| {
                Failure::new(format!(
                    "ulimit: {}: cannot get limit: {e}",
                    limit.description
                ))
            })?;
            let raw = if hard {
                current.rlim_max
            } else {
                current.rlim_cur
            };
            if raw == libc::RLIM_INFINITY {
                "unlimited".to_string()
            } else {
                (raw / limit.factor).to_string()
            }
        }
    };
    let line = if labelled {
        let unit = match limit.unit {
            Some(unit) => format!("({unit}, -{}) ", limit.letter),
            None => format!("(-{}) ", limit.letter),
        };
        format!("{:<20} {:>20}{value}\n", limit.description, unit)
    } else {
        format!("{value}\n")
    };
    out.write_all(line.as_bytes())
        .map_err(|e| Failure::new(format!("ulimit: write error: {e}")))
}

fn set(limit: &Limit, value: &str, soft: bool, hard: bool) -> Result<(), Failure> {
    let cannot = |e: std::io::Error| {
        Failure::new(format!(
            "ulimit: {}: cannot modify limit: {}",
            limit.description,
            strerror(&e)
        ))
    };
    let Some(resource) = limit.resource else {
        return Err(cannot(std::io::Error::from_raw_os_error(libc::EINVAL)));
    };
    let current = get(resource).map_err(cannot)?;
    let wanted = match value {
        "unlimited" => libc::RLIM_INFINITY,
        "hard" => current.rlim_max,
        "soft" => current.rlim_cur,
        digits if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(limit.factor))
            .filter(|&n| n != libc::RLIM_INFINITY)
            .ok_or_else(|| Failure::new(format!("ulimit: {value}: limit out of range")))?,
        other => return Err(Failure::new(format!("ulimit: {other}: invalid number"))),
    };
    let (set_soft, set_hard) = if soft || hard {
        (soft, hard)
    } else {
        (true, true)
    };
    let new = libc::rlimit {
        rlim_cur: if set_soft { wanted } else { current.rlim_cur },
        rlim_max: if set_hard { wanted } else { current.rlim_max },
    };
    // SAFETY: `new` is a valid rlimit.
    if unsafe { libc::setrlimit(resource as _, &new) } < 0 {
        return Err(cannot(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// The C library's message for `error`, without Rust's " (os error N)".
fn strerror(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each test that sets limits runs in a child process (the binary under
    // test would change the test runner's limits otherwise): see
    // tests/wrapper.rs. Here only what leaves limits alone.

    fn printed(spec: &str) -> String {
        let mut out = Vec::new();
        apply(spec, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn printing_one_limit_gives_the_bare_value() {
        let soft = get(libc::RLIMIT_NOFILE as i32).unwrap().rlim_cur;
        assert_eq!(printed("-n"), format!("{soft}\n"));
        assert_eq!(printed("-p"), "8\n");
    }

    #[test]
    fn printing_several_limits_labels_them_like_bash() {
        let nofile = get(libc::RLIMIT_NOFILE as i32).unwrap();
        let text = printed("-H -n -p");
        let expected = format!(
            "open files                          (-n) {}\n\
             pipe size                (512 bytes, -p) 8\n",
            nofile.rlim_max
        );
        assert_eq!(text, expected);
        assert_eq!(printed("-a").lines().count(), LIMITS.len());
    }

    #[test]
    fn errors_have_bash_statuses() {
        let mut out = Vec::new();
        assert_eq!(apply("-z 5", &mut out).unwrap_err().status, 2);
        assert_eq!(apply("-n foo", &mut out).unwrap_err().status, 1);
        assert_eq!(apply("-p 5", &mut out).unwrap_err().status, 1);
    }

    #[test]
    fn setting_the_current_value_again_succeeds() {
        let mut out = Vec::new();
        apply("-S -n soft", &mut out).unwrap();
        assert!(out.is_empty());
    }
}
