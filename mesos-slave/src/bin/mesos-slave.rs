//! `mesos-slave`: the Mesos agent daemon.

fn main() -> std::process::ExitCode {
    mesos_slave::cli::main()
}
