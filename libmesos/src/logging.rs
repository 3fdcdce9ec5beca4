//! Logging set-up for the binaries, as Mesos does it with glog, so that
//! log files, their names and their lines are where and what operators'
//! tools expect:
//!
//! - `--logging_level` (`INFO`, `WARNING`, `ERROR`): nothing below it is
//!   logged anywhere;
//! - without `--log_dir`, lines go to standard error (none with `--quiet`);
//! - with `--log_dir`, each severity has its file,
//!   `<program>.<host>.<user>.log.<SEVERITY>.<YYYYMMDD-HHMMSS>.<pid>`,
//!   created at its first line and pointed to by the symbolic link
//!   `<program>.<SEVERITY>`; a file holds its severity and those above
//!   (the `INFO` file has everything). Lines also go to standard error
//!   unless `--quiet`;
//! - `GLOG_v=N` (N ≥ 1) adds debug events, N ≥ 2 trace events, logged as
//!   `INFO` (glog's `VLOG`), when the level is `INFO`; `RUST_LOG`, when
//!   set, chooses the events per module instead.
//!
//! Lines have glog's format,
//! `I1124 05:14:33.123456  1234 master.rs:123] message`: severity letter,
//! month and day, local time to the microsecond, thread id, source file and
//! line (our file names), then the event's spans, message and fields.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Installs the global subscriber writing to standard error only (for
/// tools without `--log_dir`): `init_with` for a program without files.
pub fn init(logging_level: &str, quiet: bool) -> Result<(), String> {
    init_with(&Config {
        program: "mesos",
        logging_level,
        quiet,
        log_dir: None,
    })
}

/// The program's name as glog takes it: the basename of `argv[0]`
/// (`mesos-slave` or `mesos-agent` for the same agent), or `fallback`.
pub fn program_name(fallback: &str) -> String {
    std::env::args_os()
        .next()
        .as_deref()
        .map(Path::new)
        .and_then(Path::file_name)
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| fallback.to_string())
}

/// What the logging flags say.
#[derive(Clone, Debug)]
pub struct Config<'a> {
    /// The program's name in file names: `mesos-master`, `mesos-slave`,
    /// `mesos-agent` (glog takes the basename of `argv[0]`).
    pub program: &'a str,
    /// `--logging_level`.
    pub logging_level: &'a str,
    /// `--quiet`.
    pub quiet: bool,
    /// `--log_dir`.
    pub log_dir: Option<&'a Path>,
}

/// Installs the global subscriber for `config`, with `GLOG_v` and
/// `RUST_LOG` from the environment. Fails on a bad level, a `--log_dir`
/// that cannot be created, or a subscriber already installed.
pub fn init_with(config: &Config<'_>) -> Result<(), String> {
    let verbosity = std::env::var("GLOG_v")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let layer = GlogLayer::new(config, verbosity)?;
    let env_filter = EnvFilter::try_from_default_env().ok();
    let layer = layer.with_module_filter(env_filter.is_some());
    tracing_subscriber::registry()
        .with(env_filter)
        .with(layer)
        .try_init()
        .map_err(|e| e.to_string())
}

/// glog's severities that `--logging_level` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// `INFO` (`I`).
    Info = 0,
    /// `WARNING` (`W`).
    Warning = 1,
    /// `ERROR` (`E`).
    Error = 2,
}

impl Severity {
    /// The severity `--logging_level` names (any case).
    pub fn parse(name: &str) -> Result<Severity, String> {
        match name.to_ascii_uppercase().as_str() {
            "INFO" => Ok(Severity::Info),
            "WARNING" => Ok(Severity::Warning),
            "ERROR" => Ok(Severity::Error),
            other => Err(format!(
                "'{other}' is not a valid logging level: expected INFO, WARNING or ERROR"
            )),
        }
    }

    /// The severity an event is logged at: debug and trace events are
    /// glog's `VLOG`s, at `INFO`.
    pub fn of(level: &Level) -> Severity {
        if *level == Level::ERROR {
            Severity::Error
        } else if *level == Level::WARN {
            Severity::Warning
        } else {
            Severity::Info
        }
    }

    /// The name in file names and links.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::Warning => "WARNING",
            Severity::Error => "ERROR",
        }
    }

    /// The first letter of each line.
    pub fn letter(self) -> char {
        self.name().as_bytes()[0] as char
    }

    const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Error];
}

/// The layer writing glog lines to standard error and the log files.
pub struct GlogLayer {
    minimum: Severity,
    /// The most verbose tracing level let through when no module filter
    /// decides.
    most_verbose: Level,
    /// Whether `RUST_LOG` chooses the events (then this layer takes what
    /// comes through the filter, above `minimum`).
    module_filter: bool,
    stderr: bool,
    files: Option<Mutex<LogFiles>>,
}

impl GlogLayer {
    /// The layer for `config`, with `GLOG_v` = `verbosity`. Creates
    /// `--log_dir` when missing, as Mesos does; the files come with their
    /// first lines.
    pub fn new(config: &Config<'_>, verbosity: u32) -> Result<GlogLayer, String> {
        let minimum = Severity::parse(config.logging_level)?;
        let most_verbose = match (minimum, verbosity) {
            (Severity::Info, 0) => Level::INFO,
            (Severity::Info, 1) => Level::DEBUG,
            (Severity::Info, _) => Level::TRACE,
            (Severity::Warning, _) => Level::WARN,
            (Severity::Error, _) => Level::ERROR,
        };
        let files = match config.log_dir {
            None => None,
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    format!(
                        "Could not initialize logging: Failed to create directory {}: {e}",
                        dir.display()
                    )
                })?;
                Some(Mutex::new(LogFiles {
                    dir: dir.to_path_buf(),
                    program: config.program.to_string(),
                    host: hostname(),
                    user: username(),
                    pid: std::process::id(),
                    open: [None, None, None],
                    failed: [false; 3],
                }))
            }
        };
        Ok(GlogLayer {
            minimum,
            most_verbose,
            module_filter: false,
            stderr: !config.quiet,
            files,
        })
    }

    fn with_module_filter(mut self, on: bool) -> GlogLayer {
        self.module_filter = on;
        self
    }

    fn wanted(&self, metadata: &Metadata<'_>) -> bool {
        let level = metadata.level();
        Severity::of(level) >= self.minimum && (self.module_filter || *level <= self.most_verbose)
    }
}

impl<S> Layer<S> for GlogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        !metadata.is_event() || self.wanted(metadata)
    }

    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields.rest));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let metadata = event.metadata();
        if !self.wanted(metadata) {
            return;
        }
        let severity = Severity::of(metadata.level());
        let mut text = String::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                text.push_str(span.name());
                if let Some(SpanFields(fields)) = span.extensions().get::<SpanFields>()
                    && !fields.is_empty()
                {
                    let _ = write!(text, "{{{}}}", fields.trim_start());
                }
                text.push_str(": ");
            }
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        text.push_str(&fields.message);
        text.push_str(&fields.rest);
        let now = SystemTime::now();
        let line = format_line(
            severity,
            now,
            thread_id(),
            metadata.file().unwrap_or("unknown"),
            metadata.line().unwrap_or(0),
            &text,
        );
        if self.stderr {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        if let Some(files) = &self.files {
            let mut files = files
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            files.write(severity, now, &line);
        }
    }
}

/// A span's fields, formatted, kept in its extensions.
struct SpanFields(String);

/// An event's message and its other fields as ` key=value`.
#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
}

/// The open log files of one process.
struct LogFiles {
    dir: PathBuf,
    program: String,
    host: String,
    user: String,
    pid: u32,
    /// One per severity, opened by its first line.
    open: [Option<File>; 3],
    /// Severities whose file could not be created (said once).
    failed: [bool; 3],
}

impl LogFiles {
    /// Writes `line` to the file of `severity` and of every severity below.
    fn write(&mut self, severity: Severity, now: SystemTime, line: &str) {
        for file_severity in Severity::ALL.into_iter().filter(|s| *s <= severity) {
            let index = file_severity as usize;
            if self.open[index].is_none() && !self.failed[index] {
                match self.create(file_severity, now) {
                    Ok(file) => self.open[index] = Some(file),
                    Err(error) => {
                        self.failed[index] = true;
                        eprintln!("Could not create logging file: {error}");
                    }
                }
            }
            if let Some(file) = &mut self.open[index] {
                let _ = file.write_all(line.as_bytes());
            }
        }
    }

    fn create(&self, severity: Severity, now: SystemTime) -> std::io::Result<File> {
        let tm = local_time(now);
        let name = format!(
            "{}.{}.{}.log.{}.{:04}{:02}{:02}-{:02}{:02}{:02}.{}",
            self.program,
            self.host,
            self.user,
            severity.name(),
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec,
            self.pid
        );
        let path = self.dir.join(&name);
        let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
        let header = format!(
            "Log file created at: {:04}/{:02}/{:02} {:02}:{:02}:{:02}\n\
             Running on machine: {}\n\
             Log line format: [IWEF]mmdd hh:mm:ss.uuuuuu threadid file:line] msg\n",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec,
            self.host
        );
        file.write_all(header.as_bytes())?;
        let link = self
            .dir
            .join(format!("{}.{}", self.program, severity.name()));
        let _ = std::fs::remove_file(&link);
        // A failed link leaves the file usable, as glog does.
        let _ = std::os::unix::fs::symlink(&name, &link);
        Ok(file)
    }
}

/// One glog line: `I1124 05:14:33.123456  1234 master.rs:123] text`.
fn format_line(
    severity: Severity,
    now: SystemTime,
    thread: i64,
    file: &str,
    line: u32,
    text: &str,
) -> String {
    let tm = local_time(now);
    let micros = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_micros());
    let base = file.rsplit('/').next().unwrap_or(file);
    format!(
        "{}{:02}{:02} {:02}:{:02}:{:02}.{:06} {:>5} {}:{}] {}\n",
        severity.letter(),
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        micros,
        thread,
        base,
        line,
        text
    )
}

fn local_time(now: SystemTime) -> libc::tm {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as libc::time_t;
    // SAFETY: an all-zero tm is a valid value for localtime_r to fill.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    unsafe { libc::localtime_r(&secs, &mut tm) };
    tm
}

fn thread_id() -> i64 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

fn hostname() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its length.
    let result = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if result != 0 {
        return "(unknown)".to_string();
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

/// glog's user name: `$USER`, else the effective user's name, else
/// `invalid-user`.
fn username() -> String {
    if let Ok(user) = std::env::var("USER")
        && !user.is_empty()
    {
        return user;
    }
    // SAFETY: getpwuid returns null or a pointer to a static entry, read
    // at once.
    unsafe {
        let entry = libc::getpwuid(libc::geteuid());
        if !entry.is_null() && !(*entry).pw_name.is_null() {
            return std::ffi::CStr::from_ptr((*entry).pw_name)
                .to_string_lossy()
                .into_owned();
        }
    }
    "invalid-user".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    fn config<'a>(dir: Option<&'a Path>, level: &'a str) -> Config<'a> {
        Config {
            program: "mesos-test",
            logging_level: level,
            quiet: true,
            log_dir: dir,
        }
    }

    fn with_layer(layer: GlogLayer, body: impl FnOnce()) {
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, body);
    }

    fn file_of(dir: &Path, severity: &str) -> (String, String) {
        let link = dir.join(format!("mesos-test.{severity}"));
        let target = std::fs::read_link(&link).unwrap_or_else(|e| panic!("{link:?}: {e}"));
        let text = std::fs::read_to_string(&link).unwrap();
        (target.to_string_lossy().into_owned(), text)
    }

    #[test]
    fn lines_have_glogs_format() {
        let now = UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 123_456_000);
        let line = format_line(
            Severity::Warning,
            now,
            1234,
            "mesos-master/src/master/core.rs",
            42,
            "hello",
        );
        let tm = local_time(now);
        let expected = format!(
            "W{:02}{:02} {:02}:{:02}:{:02}.123456  1234 core.rs:42] hello\n",
            tm.tm_mon + 1,
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec
        );
        assert_eq!(line, expected);
    }

    #[test]
    fn each_severity_has_its_file_and_link_holding_it_and_above() {
        let dir = tempfile::tempdir().unwrap();
        let layer = GlogLayer::new(&config(Some(dir.path()), "INFO"), 0).unwrap();
        with_layer(layer, || {
            tracing::info!("first info");
            tracing::debug!("not without GLOG_v");
            tracing::warn!(agent_id = "A1", "a warning");
            let span = tracing::info_span!("offer", framework_id = "F1");
            let _entered = span.enter();
            tracing::error!("an error");
        });
        let (info_name, info) = file_of(dir.path(), "INFO");
        let (warning_name, warning) = file_of(dir.path(), "WARNING");
        let (error_name, error) = file_of(dir.path(), "ERROR");
        let host = hostname();
        let user = username();
        let pid = std::process::id();
        for (name, severity) in [
            (&info_name, "INFO"),
            (&warning_name, "WARNING"),
            (&error_name, "ERROR"),
        ] {
            let prefix = format!("mesos-test.{host}.{user}.log.{severity}.");
            assert!(name.starts_with(&prefix), "{name} vs {prefix}");
            let stamp = name[prefix.len()..].split('.').next().unwrap();
            assert_eq!(stamp.len(), 15, "{name}");
            assert_eq!(&stamp[8..9], "-", "{name}");
            assert!(name.ends_with(&format!(".{pid}")), "{name}");
        }
        let lines = |text: &str| -> Vec<String> {
            text.lines()
                .skip(3)
                .map(|l| l.split_once("] ").unwrap().1.to_string())
                .collect()
        };
        assert!(info.starts_with("Log file created at: "), "{info}");
        assert!(info.contains(&format!("\nRunning on machine: {host}\n")));
        assert_eq!(
            lines(&info),
            [
                "first info",
                "a warning agent_id=A1",
                "offer{framework_id=F1}: an error"
            ]
        );
        assert_eq!(
            lines(&warning),
            ["a warning agent_id=A1", "offer{framework_id=F1}: an error"]
        );
        assert_eq!(lines(&error), ["offer{framework_id=F1}: an error"]);
        let letters: Vec<char> = info
            .lines()
            .skip(3)
            .map(|l| l.chars().next().unwrap())
            .collect();
        assert_eq!(letters, ['I', 'W', 'E']);
        assert!(info.lines().nth(3).unwrap().contains(" logging.rs:"));
    }

    #[test]
    fn files_come_with_their_first_line_and_the_level_drops_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let layer = GlogLayer::new(&config(Some(dir.path()), "warning"), 0).unwrap();
        with_layer(layer, || {
            tracing::info!("dropped");
            tracing::warn!("kept");
        });
        let (_, info) = file_of(dir.path(), "INFO");
        assert!(!info.contains("dropped"));
        assert!(info.contains("] kept"));
        assert!(!dir.path().join("mesos-test.ERROR").exists());
        let names = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(names, 4, "two files and two links");
    }

    #[test]
    fn glog_v_adds_debug_and_trace_as_info_lines() {
        let dir = tempfile::tempdir().unwrap();
        let layer = GlogLayer::new(&config(Some(dir.path()), "INFO"), 1).unwrap();
        with_layer(layer, || {
            tracing::debug!("verbose one");
            tracing::trace!("verbose two");
        });
        let (_, info) = file_of(dir.path(), "INFO");
        assert!(info.lines().nth(3).unwrap().starts_with('I'));
        assert!(info.contains("] verbose one"));
        assert!(!info.contains("verbose two"));
    }

    #[test]
    fn a_bad_level_and_an_impossible_log_dir_are_errors() {
        assert!(GlogLayer::new(&config(None, "LOUD"), 0).is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let under_file = file.join("logs");
        assert!(GlogLayer::new(&config(Some(&under_file), "INFO"), 0).is_err());
    }
}
