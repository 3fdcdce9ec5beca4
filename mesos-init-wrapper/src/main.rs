//! `mesos-init-wrapper master|slave|agent`: see the library's overview.

use std::ffi::OsString;
use std::process::ExitCode;

use mesos_init_wrapper::{
    LOCALE, Mode, Paths, ROOT_VAR, SBIN_VAR, USAGE, args, defaults, exec, is_executable_path,
    ulimit,
};

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().skip(1).collect();
    let first = argv.first().and_then(|a| a.to_str()).unwrap_or("");
    if first == "-h" || first == "--help" {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let Some(mode) = Mode::parse(first) else {
        eprintln!("Please use `master' or `slave'.");
        return ExitCode::FAILURE;
    };
    match run(mode, &argv[1..]) {
        Ok(never) => match never {},
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("mesos-init-wrapper: {}", failure.message);
            }
            ExitCode::from(u8::try_from(failure.status).unwrap_or(1))
        }
    }
}

/// Never returns on success: the daemon replaces the process.
fn run(
    mode: Mode,
    extra: &[OsString],
) -> Result<std::convert::Infallible, mesos_init_wrapper::Failure> {
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let paths = Paths::from_env(&env);
    env.retain(|(name, _)| name != ROOT_VAR && name != SBIN_VAR && name != "LC_ALL");
    env.push(("LC_ALL".into(), LOCALE.into()));

    let dnsconfig = paths.under_root("/usr/bin/mesosphere-dnsconfig");
    if is_executable_path(&dnsconfig) {
        let status = std::process::Command::new(&dnsconfig)
            .arg("-write")
            .arg(format!("-service={}", mode.service()))
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .status()
            .map_err(|e| {
                mesos_init_wrapper::Failure::new(format!("{}: {e}", dnsconfig.display()))
            })?;
        if !status.success() {
            return Err(mesos_init_wrapper::Failure {
                status: status.code().unwrap_or(1),
                message: String::new(),
            });
        }
    }

    let vars = defaults::source(
        &paths.under_root("/etc/default/mesos"),
        &paths.under_root(&format!("/etc/default/{}", mode.service())),
        extra,
        &env,
    )?;
    if let Some(spec) = args::lookup(&vars, "ULIMIT").filter(|v| !v.is_empty()) {
        ulimit::apply(&spec.to_string_lossy(), &mut std::io::stdout())?;
    }
    let launch = exec::plan(args::build(mode, &paths, &vars)?);
    Err(exec::exec(&paths.daemon(mode), launch, &vars))
}
