//! `/api/v1`: the agent's v1 operator API (`mesos.v1.agent.Call`), in
//! protobuf and JSON, refusing malformed requests with Mesos's status
//! codes and messages.
//!
//! [`parse`] checks the request (method, media types, body, the call's
//! own fields) without touching the agent; [`answer`] computes the
//! answer to a call about the agent's state from the [`AgentCore`] alone.
//! The runtime serves `GET_METRICS`, `LIST_FILES` and `READ_FILE` itself,
//! as they need the metrics and the files of the libprocess instance.
//! Calls this agent does not implement (nested and standalone
//! containers, attaching, resource provider configuration, image
//! pruning, logging level changes) answer `501` naming the call.

use http::{Method, StatusCode};
use mesos::wire::media::{self, APPLICATION_RECORDIO, Format};
use mesos::wire::mesos as v0;
use mesos::wire::mesos::v1;
use mesos::wire::mesos::v1::agent as v1a;
use prost_reflect::ReflectMessage;

use super::core::{AgentCore, VERSION};
use super::monitor::{ContainerUsage, executor_statistics};
use super::state::{Executor, ExecutorState, Framework, create_task};
use crate::files::{FilesError, Listed};

use v1a::call::Type as CallType;
use v1a::response::Type as ResponseType;

/// A refused request: its status code and Mesos's message.
pub type Refusal = (StatusCode, String);

/// What a request asks, once [`parse`] has accepted it.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The call.
    pub call: v1a::Call,
    /// How to encode the answer.
    pub accept: Format,
}

/// What the headers of a request say.
#[derive(Debug, Default, Clone, Copy)]
pub struct Headers<'a> {
    /// `Content-Type`.
    pub content_type: Option<&'a str>,
    /// `Message-Content-Type` (streaming calls).
    pub message_content_type: Option<&'a str>,
    /// `Accept`.
    pub accept: Option<&'a str>,
    /// `Message-Accept` (streaming answers).
    pub message_accept: Option<&'a str>,
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
}

/// The name Mesos prints for a call type.
pub fn call_name(call: &v1a::Call) -> String {
    match call.r#type.map(CallType::try_from) {
        Some(Ok(t)) => t.as_str_name().to_string(),
        Some(Err(_)) => call.r#type.unwrap_or(0).to_string(),
        None => "UNKNOWN".to_string(),
    }
}

/// Checks a request to `/api/v1` in the order Mesos does: the method,
/// the content type, the accepted type, the body, then the call.
pub fn parse(method: &Method, headers: Headers<'_>, body: &[u8]) -> Result<Parsed, Refusal> {
    if method != Method::POST {
        return Err((
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Expecting one of {{ 'POST' }}, but received '{method}'"),
        ));
    }
    let content = media::content_format(headers.content_type, true)
        .map_err(|(code, message)| (status(code), message))?;
    let message_content = match content {
        // application/recordio: the call is the first record.
        None => match headers.message_content_type {
            None => {
                return Err((
                    StatusCode::BAD_REQUEST,
                    "Expecting 'Message-Content-Type' to be set for streaming requests".into(),
                ));
            }
            Some(value) => match media::content_format(Some(value), false) {
                Ok(Some(format)) => Some(format),
                _ => {
                    return Err((
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        format!(
                            "Expecting 'Message-Content-Type' of {} or {}",
                            media::APPLICATION_JSON,
                            media::APPLICATION_PROTOBUF
                        ),
                    ));
                }
            },
        },
        Some(_) if headers.message_content_type.is_some() => {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Expecting 'Message-Content-Type' to be not set for non-streaming requests".into(),
            ));
        }
        Some(_) => None,
    };
    let accept = match media::accept_format(headers.accept) {
        Some(format) => Some(format),
        None if media::accepts(headers.accept, APPLICATION_RECORDIO) => None,
        None => {
            return Err((
                StatusCode::NOT_ACCEPTABLE,
                format!(
                    "Expecting 'Accept' to allow {} or {} or {APPLICATION_RECORDIO}",
                    media::APPLICATION_JSON,
                    media::APPLICATION_PROTOBUF
                ),
            ));
        }
    };
    if accept.is_some() && headers.message_accept.is_some() {
        return Err((
            StatusCode::NOT_ACCEPTABLE,
            "Expecting 'Message-Accept' to be not set for non-streaming responses".into(),
        ));
    }
    let call: v1a::Call = match (content, message_content) {
        (Some(format), _) => format.decode(body),
        (None, Some(format)) => first_record(body).and_then(|record| format.decode(&record)),
        (None, None) => Err("Received EOF while reading request body".into()),
    }
    .map_err(|message| (StatusCode::BAD_REQUEST, message))?;
    validate(&call).map_err(|message| {
        (
            StatusCode::BAD_REQUEST,
            format!("Failed to validate agent::Call: {message}"),
        )
    })?;
    let name = call_name(&call);
    let kind = call.r#type.and_then(|t| CallType::try_from(t).ok());
    if content.is_none() && kind != Some(CallType::AttachContainerInput) {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Streaming 'Content-Type' {APPLICATION_RECORDIO} is not supported for {name} call"
            ),
        ));
    }
    if content.is_some() && kind == Some(CallType::AttachContainerInput) {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Expecting 'Content-Type' to be {APPLICATION_RECORDIO} for {name} call"),
        ));
    }
    let Some(accept) = accept else {
        if !matches!(
            kind,
            Some(CallType::AttachContainerOutput | CallType::LaunchNestedContainerSession)
        ) {
            return Err((
                StatusCode::NOT_ACCEPTABLE,
                format!("Streaming response is not supported for {name} call"),
            ));
        }
        // A streaming answer is only for calls this agent does not
        // implement.
        return Err(not_implemented(&call));
    };
    Ok(Parsed { call, accept })
}

/// The first RecordIO record of a streaming request body.
fn first_record(body: &[u8]) -> Result<Vec<u8>, String> {
    let mut decoder = mesos::wire::recordio::Decoder::new(body.len().max(1));
    let records = decoder.feed(body).map_err(|e| e.to_string())?;
    records
        .into_iter()
        .next()
        .ok_or_else(|| "Received EOF while reading request body".to_string())
}

/// `501` for a call this agent does not implement.
pub fn not_implemented(call: &v1a::Call) -> Refusal {
    (
        StatusCode::NOT_IMPLEMENTED,
        format!(
            "The '{}' call is not implemented by this agent",
            call_name(call)
        ),
    )
}

/// Mesos's checks of a call: its type, and the message its type needs.
fn validate(call: &v1a::Call) -> Result<(), String> {
    let Some(kind) = call.r#type else {
        return Err("Expecting 'type' to be present".into());
    };
    let Ok(kind) = CallType::try_from(kind) else {
        // An unknown enum value parses as no type at all in C++.
        return Err("Expecting 'type' to be present".into());
    };
    // Calls that carry a message name it after themselves
    // (`LIST_FILES` -> `list_files`), except those below.
    let field = match kind {
        CallType::Unknown
        | CallType::GetHealth
        | CallType::GetFlags
        | CallType::GetVersion
        | CallType::GetLoggingLevel
        | CallType::GetState
        | CallType::GetContainers
        | CallType::GetFrameworks
        | CallType::GetExecutors
        | CallType::GetOperations
        | CallType::GetTasks
        | CallType::GetAgent
        | CallType::GetResourceProviders => return Ok(()),
        other => other.as_str_name().to_ascii_lowercase(),
    };
    let message = call.transcode_to_dynamic();
    let present = message
        .descriptor()
        .get_field_by_name(&field)
        .is_some_and(|f| message.has_field(&f));
    if present {
        Ok(())
    } else {
        Err(format!("Expecting '{field}' to be present"))
    }
}

fn v1_of<From: prost::Message, To: prost::Message + Default>(message: &From) -> To {
    // v0 and v1 twins share field numbers: this cannot fail.
    mesos::convert::evolve(message).unwrap_or_default()
}

fn response(kind: ResponseType) -> v1a::Response {
    v1a::Response {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

/// Frameworks, live then completed, as Mesos walks them.
fn all_frameworks(core: &AgentCore) -> impl Iterator<Item = &Framework> {
    core.frameworks
        .values()
        .chain(core.completed_frameworks.iter())
}

/// A framework's executors, live then completed.
fn all_executors(framework: &Framework) -> impl Iterator<Item = &Executor> {
    framework
        .executors
        .values()
        .chain(framework.completed_executors.iter())
}

fn get_frameworks(core: &AgentCore) -> v1a::response::GetFrameworks {
    let entry = |f: &Framework| v1a::response::get_frameworks::Framework {
        framework_info: v1_of(&f.info),
    };
    v1a::response::GetFrameworks {
        frameworks: core.frameworks.values().map(entry).collect(),
        completed_frameworks: core.completed_frameworks.iter().map(entry).collect(),
    }
}

fn get_executors(core: &AgentCore) -> v1a::response::GetExecutors {
    let entry = |e: &Executor| v1a::response::get_executors::Executor {
        executor_info: v1_of(&e.info),
    };
    let mut answer = v1a::response::GetExecutors::default();
    for framework in all_frameworks(core) {
        answer
            .executors
            .extend(framework.executors.values().map(entry));
        answer
            .completed_executors
            .extend(framework.completed_executors.iter().map(entry));
    }
    answer
}

fn get_tasks(core: &AgentCore) -> v1a::response::GetTasks {
    let mut answer = v1a::response::GetTasks::default();
    // Tasks wait for their executor's registration in `queued`; none
    // wait for an executor to be launched (Mesos's `pending_tasks`).
    for framework in all_frameworks(core) {
        let fid = framework.id.to_v0();
        for executor in all_executors(framework) {
            answer.queued_tasks.extend(
                executor
                    .queued
                    .iter()
                    .map(|t| v1_of(&create_task(t, v0::TaskState::TaskStaging, &fid))),
            );
            answer
                .launched_tasks
                .extend(executor.launched.values().map(v1_of));
            answer
                .terminated_tasks
                .extend(executor.terminated.values().map(v1_of));
            answer
                .completed_tasks
                .extend(executor.completed.iter().map(v1_of));
        }
    }
    answer
}

fn get_containers(
    core: &AgentCore,
    usage: &ContainerUsage,
    timestamp: f64,
) -> v1a::response::GetContainers {
    let enable_cfs = core.config.containerizer.cgroups.enable_cfs;
    let mut answer = v1a::response::GetContainers::default();
    for framework in core.frameworks.values() {
        for executor in framework.executors.values() {
            if executor.state == ExecutorState::Terminated {
                continue;
            }
            let container_id = v1::ContainerId {
                value: executor.container_id.clone(),
                parent: None,
            };
            let pid = usage.get(&executor.container_id).and_then(|(_, pid)| *pid);
            let statistics =
                executor_statistics(enable_cfs, executor, usage, timestamp).and_then(|json| {
                    mesos::wire::json::from_json::<v1::ResourceStatistics>(&json).ok()
                });
            answer
                .containers
                .push(v1a::response::get_containers::Container {
                    framework_id: Some(v1::FrameworkId {
                        value: framework.id.as_str().to_string(),
                    }),
                    executor_id: Some(v1::ExecutorId {
                        value: executor.id.as_str().to_string(),
                    }),
                    executor_name: Some(executor.info.name.clone().unwrap_or_default()),
                    container_id: container_id.clone(),
                    container_status: Some(v1::ContainerStatus {
                        container_id: Some(container_id),
                        executor_pid: pid,
                        ..Default::default()
                    }),
                    resource_statistics: statistics,
                });
        }
    }
    answer
}

/// The answer to a call about the agent's own state (every implemented
/// call but `GET_METRICS`, `LIST_FILES` and `READ_FILE`); `usage` is
/// what the containers use (for `GET_CONTAINERS`), `timestamp` the wall
/// clock in seconds. `None` for a call it does not answer.
pub fn answer(
    core: &AgentCore,
    call: &v1a::Call,
    usage: &ContainerUsage,
    timestamp: f64,
) -> Option<v1a::Response> {
    let kind = CallType::try_from(call.r#type?).ok()?;
    let answer = match kind {
        CallType::GetHealth => v1a::Response {
            get_health: Some(v1a::response::GetHealth { healthy: true }),
            ..response(ResponseType::GetHealth)
        },
        CallType::GetFlags => v1a::Response {
            get_flags: Some(v1a::response::GetFlags {
                flags: core
                    .config
                    .flags
                    .iter()
                    .map(|(name, value)| v1::Flag {
                        name: name.clone(),
                        value: Some(value.clone()),
                    })
                    .collect(),
            }),
            ..response(ResponseType::GetFlags)
        },
        CallType::GetVersion => v1a::Response {
            get_version: Some(v1a::response::GetVersion {
                version_info: v1::VersionInfo {
                    version: VERSION.to_string(),
                    ..Default::default()
                },
            }),
            ..response(ResponseType::GetVersion)
        },
        CallType::GetLoggingLevel => v1a::Response {
            get_logging_level: Some(v1a::response::GetLoggingLevel {
                level: logging_level(),
            }),
            ..response(ResponseType::GetLoggingLevel)
        },
        CallType::GetState => v1a::Response {
            get_state: Some(v1a::response::GetState {
                get_tasks: Some(get_tasks(core)),
                get_executors: Some(get_executors(core)),
                get_frameworks: Some(get_frameworks(core)),
            }),
            ..response(ResponseType::GetState)
        },
        CallType::GetContainers => v1a::Response {
            get_containers: Some(get_containers(core, usage, timestamp)),
            ..response(ResponseType::GetContainers)
        },
        CallType::GetFrameworks => v1a::Response {
            get_frameworks: Some(get_frameworks(core)),
            ..response(ResponseType::GetFrameworks)
        },
        CallType::GetExecutors => v1a::Response {
            get_executors: Some(get_executors(core)),
            ..response(ResponseType::GetExecutors)
        },
        CallType::GetTasks => v1a::Response {
            get_tasks: Some(get_tasks(core)),
            ..response(ResponseType::GetTasks)
        },
        // The agent applies no operations of its own (no resource
        // providers): the list is empty.
        CallType::GetOperations => v1a::Response {
            get_operations: Some(v1a::response::GetOperations::default()),
            ..response(ResponseType::GetOperations)
        },
        CallType::GetAgent => v1a::Response {
            get_agent: Some(v1a::response::GetAgent {
                agent_info: Some(v1_of(&core.info)),
                ..Default::default()
            }),
            ..response(ResponseType::GetAgent)
        },
        // No resource providers run on this agent.
        CallType::GetResourceProviders => v1a::Response {
            get_resource_providers: Some(v1a::response::GetResourceProviders::default()),
            ..response(ResponseType::GetResourceProviders)
        },
        _ => return None,
    };
    Some(answer)
}

/// The glog verbosity (`GLOG_v`) the daemon logs with.
fn logging_level() -> u32 {
    std::env::var("GLOG_v")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The `GET_METRICS` answer.
pub fn metrics(values: &std::collections::BTreeMap<String, f64>) -> v1a::Response {
    v1a::Response {
        get_metrics: Some(v1a::response::GetMetrics {
            metrics: values
                .iter()
                .map(|(name, value)| v1::Metric {
                    name: name.clone(),
                    value: Some(*value),
                })
                .collect(),
        }),
        ..response(ResponseType::GetMetrics)
    }
}

/// The `GET_METRICS` timeout, if the call gives one.
pub fn metrics_timeout(call: &v1a::Call) -> Option<std::time::Duration> {
    let nanos = call.get_metrics.as_ref()?.timeout.as_ref()?.nanoseconds;
    Some(std::time::Duration::from_nanos(nanos.max(0) as u64))
}

fn files_refusal(error: FilesError) -> Refusal {
    match error {
        FilesError::Invalid(message) => (StatusCode::BAD_REQUEST, message),
        FilesError::NotFound => (StatusCode::NOT_FOUND, String::new()),
        FilesError::Unknown(message) => (StatusCode::INTERNAL_SERVER_ERROR, message),
    }
}

/// The `LIST_FILES` answer, from [`crate::files::Files::list`].
pub fn list_files(listing: Result<Vec<Listed>, FilesError>) -> Result<v1a::Response, Refusal> {
    use std::os::unix::fs::MetadataExt;
    let listing = listing.map_err(files_refusal)?;
    let file_infos = listing
        .iter()
        .map(|entry| {
            let m = &entry.metadata;
            v1::FileInfo {
                path: entry.path.clone(),
                nlink: Some(m.nlink() as i32),
                size: Some(m.size()),
                mtime: Some(v1::TimeInfo {
                    nanoseconds: m.mtime().saturating_mul(1_000_000_000),
                }),
                mode: Some(m.mode()),
                uid: Some(crate::files::user_name(m.uid())),
                gid: Some(crate::files::group_name(m.gid())),
            }
        })
        .collect();
    Ok(v1a::Response {
        list_files: Some(v1a::response::ListFiles { file_infos }),
        ..response(ResponseType::ListFiles)
    })
}

/// The `READ_FILE` answer, from [`crate::files::Files::read_at`].
pub fn read_file(read: Result<(u64, Vec<u8>), FilesError>) -> Result<v1a::Response, Refusal> {
    let (size, data) = read.map_err(files_refusal)?;
    Ok(v1a::Response {
        read_file: Some(v1a::response::ReadFile {
            size,
            data: data.into(),
        }),
        ..response(ResponseType::ReadFile)
    })
}

#[cfg(test)]
mod tests;
