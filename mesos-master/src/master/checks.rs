//! Validation of tasks' health checks (`TaskInfo.health_check`) and
//! general checks (`TaskInfo.check`), in Mesos's words, and the typing of
//! older frameworks' type-less health checks.

use mesos::wire::mesos as v0;
use mesos::wire::mesos::check_info::Type as CheckType;
use mesos::wire::mesos::health_check::Type as HealthType;

/// Gives a type-less health check the type its fields imply (`command`
/// alone: COMMAND, `http` alone: HTTP), as Mesos's master does for the
/// frameworks written before `type` existed.
pub(super) fn type_legacy_health_check(task: &mut v0::TaskInfo) {
    let Some(check) = task.health_check.as_mut() else {
        return;
    };
    if check.r#type.is_some() {
        return;
    }
    tracing::warn!(
        "The type of health check is not set; use of 'HealthCheck' without specifying 'type' will be deprecated in Mesos 2.0"
    );
    check.r#type = match (&check.command, &check.http) {
        (Some(_), None) => Some(HealthType::Command as i32),
        (None, Some(_)) => Some(HealthType::Http as i32),
        _ => None,
    };
}

fn command_error(command: &v0::CommandInfo, what: &str) -> Option<String> {
    if command.value.is_some() {
        return None;
    }
    let kind = if command.shell.unwrap_or(true) {
        "'shell command'"
    } else {
        "'executable path'"
    };
    Some(format!("Command {what} must contain {kind}"))
}

fn negative(name: &str, value: Option<f64>) -> Result<(), String> {
    match value {
        Some(v) if v < 0.0 => Err(format!("Expecting '{name}' to be non-negative")),
        _ => Ok(()),
    }
}

fn path_error(path: Option<&str>, what: &str) -> Result<(), String> {
    match path {
        Some(path) if !path.starts_with('/') => Err(format!(
            "The path '{path}' of HTTP {what} must start with '/'"
        )),
        _ => Ok(()),
    }
}

/// Mesos's validation of a `HealthCheck`.
pub(super) fn validate_health_check(check: &v0::HealthCheck) -> Result<(), String> {
    let Some(kind) = check.r#type else {
        return Err("HealthCheck must specify 'type'".into());
    };
    match HealthType::try_from(kind).unwrap_or(HealthType::Unknown) {
        HealthType::Command => {
            let command = check
                .command
                .as_ref()
                .ok_or("Expecting 'command' to be set for COMMAND health check")?;
            if let Some(error) = command_error(command, "health check") {
                return Err(error);
            }
        }
        HealthType::Http => {
            let http = check
                .http
                .as_ref()
                .ok_or("Expecting 'http' to be set for HTTP health check")?;
            if let Some(scheme) = &http.scheme {
                if scheme != "http" && scheme != "https" {
                    return Err(format!("Unsupported HTTP health check scheme: '{scheme}'"));
                }
            }
            path_error(http.path.as_deref(), "health check")?;
        }
        HealthType::Tcp => {
            if check.tcp.is_none() {
                return Err("Expecting 'tcp' to be set for TCP health check".into());
            }
        }
        HealthType::Unknown => {
            return Err("'UNKNOWN' is not a valid health check type".into());
        }
    }
    negative("delay_seconds", check.delay_seconds)?;
    negative("grace_period_seconds", check.grace_period_seconds)?;
    negative("interval_seconds", check.interval_seconds)?;
    negative("timeout_seconds", check.timeout_seconds)
}

/// Mesos's validation of a `CheckInfo`.
pub(super) fn validate_check(check: &v0::CheckInfo) -> Result<(), String> {
    let Some(kind) = check.r#type else {
        return Err("CheckInfo must specify 'type'".into());
    };
    match CheckType::try_from(kind).unwrap_or(CheckType::Unknown) {
        CheckType::Command => {
            let command = check
                .command
                .as_ref()
                .ok_or("Expecting 'command' to be set for COMMAND check")?;
            if let Some(error) = command_error(&command.command, "check") {
                return Err(error);
            }
        }
        CheckType::Http => {
            let http = check
                .http
                .as_ref()
                .ok_or("Expecting 'http' to be set for HTTP check")?;
            path_error(http.path.as_deref(), "check")?;
        }
        CheckType::Tcp => {
            if check.tcp.is_none() {
                return Err("Expecting 'tcp' to be set for TCP check".into());
            }
        }
        CheckType::Unknown => return Err("'UNKNOWN' is not a valid check type".into()),
    }
    negative("delay_seconds", check.delay_seconds)?;
    negative("interval_seconds", check.interval_seconds)?;
    negative("timeout_seconds", check.timeout_seconds)
}

/// A task's check and health check, validated as Mesos's master does
/// (the check first).
pub(super) fn validate_task_checks(task: &v0::TaskInfo) -> Result<(), String> {
    if let Some(check) = &task.check {
        validate_check(check).map_err(|e| format!("Task uses invalid check: {e}"))?;
    }
    if let Some(check) = &task.health_check {
        validate_health_check(check).map_err(|e| format!("Task uses invalid health check: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(value: Option<&str>) -> v0::CommandInfo {
        v0::CommandInfo {
            value: value.map(str::to_string),
            ..Default::default()
        }
    }

    fn task(check: v0::HealthCheck) -> v0::TaskInfo {
        v0::TaskInfo {
            health_check: Some(check),
            ..Default::default()
        }
    }

    #[test]
    fn type_less_health_checks_are_typed_from_their_fields() {
        let mut legacy = task(v0::HealthCheck {
            command: Some(command(Some("true"))),
            ..Default::default()
        });
        type_legacy_health_check(&mut legacy);
        assert_eq!(
            legacy.health_check.as_ref().unwrap().r#type,
            Some(HealthType::Command as i32)
        );
        assert_eq!(validate_task_checks(&legacy), Ok(()));
        let mut http = task(v0::HealthCheck {
            http: Some(v0::health_check::HttpCheckInfo {
                port: 80,
                ..Default::default()
            }),
            ..Default::default()
        });
        type_legacy_health_check(&mut http);
        assert_eq!(
            http.health_check.as_ref().unwrap().r#type,
            Some(HealthType::Http as i32)
        );
        // Both or neither: left untyped, and refused.
        let mut both = task(v0::HealthCheck {
            command: Some(command(Some("true"))),
            http: Some(Default::default()),
            ..Default::default()
        });
        type_legacy_health_check(&mut both);
        assert_eq!(
            validate_task_checks(&both),
            Err("Task uses invalid health check: HealthCheck must specify 'type'".into())
        );
    }

    #[test]
    fn invalid_health_checks_are_refused_in_mesos_words() {
        let typed = |kind: HealthType| v0::HealthCheck {
            r#type: Some(kind as i32),
            ..Default::default()
        };
        let error = |check: v0::HealthCheck| validate_health_check(&check).unwrap_err();
        assert_eq!(
            error(typed(HealthType::Unknown)),
            "'UNKNOWN' is not a valid health check type"
        );
        assert_eq!(
            error(typed(HealthType::Command)),
            "Expecting 'command' to be set for COMMAND health check"
        );
        let mut no_value = typed(HealthType::Command);
        no_value.command = Some(command(None));
        assert_eq!(
            error(no_value),
            "Command health check must contain 'shell command'"
        );
        assert_eq!(
            error(typed(HealthType::Http)),
            "Expecting 'http' to be set for HTTP health check"
        );
        assert_eq!(
            error(typed(HealthType::Tcp)),
            "Expecting 'tcp' to be set for TCP health check"
        );
        let mut http = typed(HealthType::Http);
        http.http = Some(v0::health_check::HttpCheckInfo {
            port: 8080,
            scheme: Some("gopher".into()),
            ..Default::default()
        });
        assert_eq!(
            error(http.clone()),
            "Unsupported HTTP health check scheme: 'gopher'"
        );
        http.http.as_mut().unwrap().scheme = Some("https".into());
        http.http.as_mut().unwrap().path = Some("ready".into());
        assert_eq!(
            error(http.clone()),
            "The path 'ready' of HTTP health check must start with '/'"
        );
        http.http.as_mut().unwrap().path = Some("/ready".into());
        assert_eq!(validate_health_check(&http), Ok(()));
        http.interval_seconds = Some(-1.0);
        assert_eq!(
            error(http),
            "Expecting 'interval_seconds' to be non-negative"
        );
    }

    #[test]
    fn invalid_checks_are_refused_before_health_checks() {
        let check = v0::CheckInfo {
            r#type: Some(CheckType::Http as i32),
            http: Some(v0::check_info::Http {
                port: 80,
                path: Some("x".into()),
            }),
            ..Default::default()
        };
        let mut task = task(v0::HealthCheck::default());
        task.check = Some(check.clone());
        assert_eq!(
            validate_task_checks(&task),
            Err("Task uses invalid check: The path 'x' of HTTP check must start with '/'".into())
        );
        task.check = Some(v0::CheckInfo::default());
        assert_eq!(
            validate_task_checks(&task),
            Err("Task uses invalid check: CheckInfo must specify 'type'".into())
        );
        task.check = Some(v0::CheckInfo {
            r#type: Some(CheckType::Tcp as i32),
            tcp: Some(v0::check_info::Tcp { port: 80 }),
            ..Default::default()
        });
        assert_eq!(validate_check(task.check.as_ref().unwrap()), Ok(()));
    }
}
