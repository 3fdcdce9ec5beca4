//! `mesos-execute`: registers a framework, runs one command as a task (or
//! a task group on the default executor with `--task_group`), prints every
//! status update as Mesos's `mesos-execute` does, and exits 0 only when
//! every task finished.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mesos::http_scheduler::{self, Scheduler};
use mesos::resources::Resources;
use mesos::wire::mesos::v1::scheduler::{call, event};
use mesos::wire::mesos::v1::{self, scheduler};

/// Runs one task on a Mesos cluster.
#[derive(Debug, Parser)]
#[command(name = "mesos-execute", rename_all = "snake_case")]
struct Flags {
    /// Mesos master: IP:PORT, master@IP:PORT, or zk://host:port,.../path.
    #[arg(long, env = "MESOS_MASTER")]
    master: String,
    /// Name for the command (also the framework's and the task's).
    #[arg(long)]
    name: String,
    /// Command to launch.
    #[arg(
        long,
        required_unless_present = "task_group",
        conflicts_with = "task_group"
    )]
    command: Option<String>,
    /// A `TaskGroupInfo` in JSON (inline, a file path or `file://` path)
    /// to run on the default executor, with the `LAUNCH_GROUP` operation.
    #[arg(long)]
    task_group: Option<String>,
    /// Whether the command is run by a shell (`sh -c`); otherwise it is an executable path.
    #[arg(long, default_value = "true", value_parser = mesos::flags::parse_bool, num_args = 0..=1, default_missing_value = "true")]
    shell: bool,
    /// Environment variables for the command, as a JSON object of strings.
    #[arg(long)]
    env: Option<String>,
    /// Resources for the command.
    #[arg(long, default_value = "cpus:1;mem:128")]
    resources: String,
    /// Enable checkpointing for the framework.
    #[arg(long, default_value = "false", value_parser = mesos::flags::parse_bool, num_args = 0..=1, default_missing_value = "true")]
    checkpoint: bool,
    /// Role to use when registering.
    #[arg(long, default_value = "*")]
    role: String,
    /// Kill the task this long after it is running (e.g. 10secs).
    #[arg(long, value_parser = mesos::flags::parse_duration)]
    kill_after: Option<Duration>,
    /// Comma-separated framework capabilities to enable (RESERVATION_REFINEMENT and TASK_KILLING_STATE always are).
    #[arg(long)]
    framework_capabilities: Option<String>,
    /// Enable partition awareness for the framework.
    #[arg(long, default_value = "false", value_parser = mesos::flags::parse_bool, num_args = 0..=1, default_missing_value = "true")]
    partition_aware: bool,
    /// The principal to register with.
    #[arg(long)]
    principal: Option<String>,
    /// Containerizer to be used (`mesos` or `docker`).
    #[arg(long, default_value = "mesos")]
    containerizer: String,
    /// Docker image that follows the Docker CLI naming `<image>:<tag>`
    /// (i.e., ubuntu, busybox:latest).
    #[arg(long)]
    docker_image: Option<String>,
    /// Comma-separated list of networks that the container will join
    /// (the Docker containerizer takes one).
    #[arg(long)]
    networks: Option<String>,
    /// Content type of scheduler messages (`protobuf`; `json` is accepted and sent as protobuf).
    #[arg(long, default_value = "protobuf")]
    content_type: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    mesos::flags::exit_if_version_requested();
    let args = match mesos::flags::expand_file_values(std::env::args().collect()) {
        Ok(args) => args,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let args = mesos::flags::expand_negations(args, &["shell", "checkpoint", "partition_aware"]);
    let flags = match Flags::try_parse_from(args) {
        Ok(flags) => flags,
        Err(error) => error.exit(),
    };
    match run(flags).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

fn framework_info(flags: &Flags) -> Result<v1::FrameworkInfo, String> {
    use v1::framework_info::capability::Type;
    let mut capabilities: BTreeSet<i32> = [
        Type::ReservationRefinement as i32,
        Type::TaskKillingState as i32,
    ]
    .into();
    if flags.partition_aware {
        capabilities.insert(Type::PartitionAware as i32);
    }
    for name in flags
        .framework_capabilities
        .iter()
        .flat_map(|c| c.split(','))
    {
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        let capability = Type::from_str_name(name)
            .ok_or_else(|| format!("Unknown framework capability '{name}'"))?;
        capabilities.insert(capability as i32);
    }
    let multi_role = capabilities.contains(&(Type::MultiRole as i32));
    #[allow(deprecated)]
    Ok(v1::FrameworkInfo {
        user: current_user(),
        name: flags.name.clone(),
        checkpoint: Some(flags.checkpoint),
        role: (!multi_role).then(|| flags.role.clone()),
        roles: if multi_role {
            vec![flags.role.clone()]
        } else {
            Vec::new()
        },
        principal: flags.principal.clone(),
        capabilities: capabilities
            .into_iter()
            .map(|t| v1::framework_info::Capability { r#type: Some(t) })
            .collect(),
        ..Default::default()
    })
}

fn current_user() -> String {
    // SAFETY: getuid cannot fail; getpwuid returns null or a pointer into
    // static storage that stays valid until the next getpw* call.
    unsafe {
        let entry = libc::getpwuid(libc::getuid());
        if entry.is_null() || (*entry).pw_name.is_null() {
            return "root".into();
        }
        std::ffi::CStr::from_ptr((*entry).pw_name)
            .to_string_lossy()
            .into_owned()
    }
}

fn environment(flags: &Flags) -> Result<Option<v1::Environment>, String> {
    let Some(text) = &flags.env else {
        return Ok(None);
    };
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("Failed to parse --env: {e}"))?;
    let object = json
        .as_object()
        .ok_or("Failed to parse --env: expected a JSON object")?;
    let variables = object
        .iter()
        .map(|(name, value)| {
            let value = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            v1::environment::Variable {
                name: name.clone(),
                value: Some(value),
                ..Default::default()
            }
        })
        .collect();
    Ok(Some(v1::Environment { variables }))
}

async fn run(flags: Flags) -> Result<bool, String> {
    if flags.content_type != "protobuf" && flags.content_type != "json" {
        return Err(format!("Invalid content type '{}'", flags.content_type));
    }
    let master = mesos_tools::resolve_master(&flags.master).await?;
    let group = task_group(&flags)?;
    let wanted = match &group {
        Some(group) => group_resources(group)?,
        None => Resources::parse(&flags.resources)
            .map_err(|e| format!("Failed to parse resources '{}': {e}", flags.resources))?,
    };
    let mut pending: BTreeSet<String> = match &group {
        Some(group) => group
            .tasks
            .iter()
            .map(|t| t.task_id.value.clone())
            .collect(),
        None => [flags.name.clone()].into(),
    };
    let mut all_finished = true;
    let info = framework_info(&flags)?;
    let environment = environment(&flags)?;
    container_info(&flags)?;
    let subscribe = scheduler::Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: info,
            ..Default::default()
        }),
        ..Default::default()
    };
    let (client, mut events) = http_scheduler::subscribe(master, &subscribe)
        .await
        .map_err(|e| format!("Failed to subscribe with {master}: {e}"))?;
    let mut framework_id = None;
    let mut launched = false;
    while let Some(event) = events.next().await {
        let event = event.map_err(|e| format!("Lost the master: {e}"))?;
        match event.r#type.and_then(|t| event::Type::try_from(t).ok()) {
            Some(event::Type::Subscribed) => {
                let id = event.subscribed.map(|s| s.framework_id).unwrap_or_default();
                println!("Subscribed with ID {}", id.value);
                framework_id = Some(id);
            }
            Some(event::Type::Offers) => {
                let Some(id) = framework_id.clone() else {
                    continue;
                };
                for offer in event.offers.map(|o| o.offers).unwrap_or_default() {
                    let offered = mesos::convert::devolve::<_, mesos::wire::mesos::Offer>(&offer)
                        .ok()
                        .and_then(|o| Resources::from_wire(&o.resources).ok())
                        .unwrap_or_default();
                    let mut unallocated = offered.clone();
                    unallocated.unallocate();
                    if launched || !unallocated.flatten().contains(&wanted) {
                        decline(&client, &id, offer.id).await?;
                        continue;
                    }
                    launched = true;
                    match &group {
                        Some(group) => {
                            launch_group(&client, &id, &offer, group.clone()).await?;
                            println!(
                                "Submitted task group with tasks {:?} to agent '{}'",
                                pending, offer.agent_id.value
                            );
                        }
                        None => {
                            launch(&client, &id, &offer, &flags, &wanted, environment.clone())
                                .await?;
                            println!(
                                "Submitted task '{}' to agent '{}'",
                                flags.name, offer.agent_id.value
                            );
                        }
                    }
                }
            }
            Some(event::Type::Update) => {
                let Some(status) = event.update.map(|u| u.status) else {
                    continue;
                };
                if let Some(id) = framework_id.clone() {
                    if let Some(finished) = update(&client, &id, &status, &flags).await? {
                        if pending.remove(&status.task_id.value) {
                            all_finished &= finished;
                        }
                        if pending.is_empty() {
                            let teardown = scheduler::Call {
                                framework_id: Some(id),
                                r#type: Some(call::Type::Teardown as i32),
                                ..Default::default()
                            };
                            let _ = client.call(&teardown).await;
                            return Ok(all_finished);
                        }
                    }
                }
            }
            Some(event::Type::Error) => {
                let message = event.error.map(|e| e.message).unwrap_or_default();
                return Err(format!("Received an ERROR event: {message}"));
            }
            _ => {}
        }
    }
    Err("The master closed the event stream".into())
}

async fn decline(
    client: &Scheduler,
    id: &v1::FrameworkId,
    offer: v1::OfferId,
) -> Result<(), String> {
    let call = scheduler::Call {
        framework_id: Some(id.clone()),
        r#type: Some(call::Type::Decline as i32),
        decline: Some(call::Decline {
            offer_ids: vec![offer],
            filters: None,
        }),
        ..Default::default()
    };
    client.call(&call).await.map_err(|e| e.to_string())
}

async fn launch(
    client: &Scheduler,
    id: &v1::FrameworkId,
    offer: &v1::Offer,
    flags: &Flags,
    wanted: &Resources,
    environment: Option<v1::Environment>,
) -> Result<(), String> {
    let mut resources = wanted.clone();
    if let Some(role) = offer.allocation_info.as_ref().and_then(|a| a.role.clone()) {
        resources.allocate(&role);
    }
    let resources = resources
        .to_wire()
        .iter()
        .filter_map(|r| mesos::convert::evolve(r).ok())
        .collect();
    let command = flags.command.clone().unwrap_or_default();
    let (shell, value, arguments) = if flags.shell {
        (true, command, Vec::new())
    } else {
        let parts: Vec<String> = command.split_whitespace().map(String::from).collect();
        (false, parts.first().cloned().unwrap_or_default(), parts)
    };
    let task = v1::TaskInfo {
        name: flags.name.clone(),
        task_id: v1::TaskId {
            value: flags.name.clone(),
        },
        agent_id: offer.agent_id.clone(),
        resources,
        command: Some(v1::CommandInfo {
            shell: Some(shell),
            value: Some(value),
            arguments,
            environment,
            ..Default::default()
        }),
        container: container_info(flags)?,
        ..Default::default()
    };
    let call = scheduler::Call {
        framework_id: Some(id.clone()),
        r#type: Some(call::Type::Accept as i32),
        accept: Some(call::Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![v1::offer::Operation {
                r#type: Some(v1::offer::operation::Type::Launch as i32),
                launch: Some(v1::offer::operation::Launch {
                    task_infos: vec![task],
                }),
                ..Default::default()
            }],
            filters: None,
        }),
        ..Default::default()
    };
    client.call(&call).await.map_err(|e| e.to_string())
}

/// The resources of the default executor that runs `--task_group`.
const EXECUTOR_RESOURCES: &str = "cpus:0.1;mem:32;disk:32";

/// Reads `--task_group`: inline JSON, or the path of a file holding it
/// (`file://` paths are read before the flags are parsed).
fn task_group(flags: &Flags) -> Result<Option<v1::TaskGroupInfo>, String> {
    let Some(value) = &flags.task_group else {
        return Ok(None);
    };
    let text = if value.trim_start().starts_with('{') {
        value.clone()
    } else {
        std::fs::read_to_string(value)
            .map_err(|e| format!("Failed to read --task_group file '{value}': {e}"))?
    };
    let group: v1::TaskGroupInfo = mesos::wire::json::from_json_str(&text)
        .map_err(|e| format!("Failed to parse --task_group: {e}"))?;
    if group.tasks.is_empty() {
        return Err("--task_group has no tasks".into());
    }
    Ok(Some(group))
}

/// What a task group needs of an offer: its tasks' resources and the
/// default executor's.
fn group_resources(group: &v1::TaskGroupInfo) -> Result<Resources, String> {
    let mut total = Resources::parse(EXECUTOR_RESOURCES).map_err(|e| e.to_string())?;
    for task in &group.tasks {
        let wire: Vec<mesos::wire::mesos::Resource> = task
            .resources
            .iter()
            .filter_map(|r| mesos::convert::devolve(r).ok())
            .collect();
        let resources = Resources::from_wire(&wire)
            .map_err(|e| format!("Task '{}' has invalid resources: {e}", task.task_id.value))?;
        total.add_all(&resources);
    }
    Ok(total)
}

/// `LAUNCH_GROUP` of `group` on `offer`, run by the default executor.
async fn launch_group(
    client: &Scheduler,
    id: &v1::FrameworkId,
    offer: &v1::Offer,
    mut group: v1::TaskGroupInfo,
) -> Result<(), String> {
    let role = offer.allocation_info.clone();
    let allocate = |resources: &mut Vec<v1::Resource>| {
        if role.is_some() {
            for resource in resources {
                resource.allocation_info = role.clone();
            }
        }
    };
    for task in &mut group.tasks {
        task.agent_id = offer.agent_id.clone();
        allocate(&mut task.resources);
    }
    let mut executor_resources: Vec<v1::Resource> = Resources::parse(EXECUTOR_RESOURCES)
        .map_err(|e| e.to_string())?
        .to_wire()
        .iter()
        .filter_map(|r| mesos::convert::evolve(r).ok())
        .collect();
    allocate(&mut executor_resources);
    let executor = v1::ExecutorInfo {
        r#type: Some(v1::executor_info::Type::Default as i32),
        executor_id: v1::ExecutorId {
            value: "default-executor".into(),
        },
        framework_id: Some(id.clone()),
        resources: executor_resources,
        ..Default::default()
    };
    let call = scheduler::Call {
        framework_id: Some(id.clone()),
        r#type: Some(call::Type::Accept as i32),
        accept: Some(call::Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![v1::offer::Operation {
                r#type: Some(v1::offer::operation::Type::LaunchGroup as i32),
                launch_group: Some(v1::offer::operation::LaunchGroup {
                    executor,
                    task_group: group,
                }),
                ..Default::default()
            }],
            filters: None,
        }),
        ..Default::default()
    };
    client.call(&call).await.map_err(|e| e.to_string())
}

/// Prints and acknowledges an update; `Some(finished)` once terminal.
async fn update(
    client: &Scheduler,
    id: &v1::FrameworkId,
    status: &v1::TaskStatus,
    flags: &Flags,
) -> Result<Option<bool>, String> {
    use v1::TaskState;
    let state = TaskState::try_from(status.state).unwrap_or(TaskState::TaskUnknown);
    println!(
        "Received status update {} for task '{}'",
        state.as_str_name(),
        status.task_id.value
    );
    if let Some(message) = &status.message {
        println!("  message: '{message}'");
    }
    if let Some(source) = status
        .source
        .and_then(|s| v1::task_status::Source::try_from(s).ok())
    {
        println!("  source: {}", source.as_str_name());
    }
    if let Some(reason) = status
        .reason
        .and_then(|r| v1::task_status::Reason::try_from(r).ok())
    {
        println!("  reason: {}", reason.as_str_name());
    }
    if let Some(healthy) = status.healthy {
        println!("  healthy?: {}", u8::from(healthy));
    }
    if let (Some(uuid), Some(agent)) = (&status.uuid, &status.agent_id) {
        let call = scheduler::Call {
            framework_id: Some(id.clone()),
            r#type: Some(call::Type::Acknowledge as i32),
            acknowledge: Some(call::Acknowledge {
                agent_id: agent.clone(),
                task_id: status.task_id.clone(),
                uuid: uuid.clone(),
            }),
            ..Default::default()
        };
        client.call(&call).await.map_err(|e| e.to_string())?;
    }
    if state == TaskState::TaskRunning
        && let (Some(delay), Some(agent)) = (flags.kill_after, status.agent_id.clone())
    {
        let kill = scheduler::Call {
            framework_id: Some(id.clone()),
            r#type: Some(call::Type::Kill as i32),
            kill: Some(call::Kill {
                task_id: status.task_id.clone(),
                agent_id: Some(agent),
                kill_policy: None,
            }),
            ..Default::default()
        };
        tokio::time::sleep(delay).await;
        println!("Asked to kill task '{}'", status.task_id.value);
        client.call(&kill).await.map_err(|e| e.to_string())?;
    }
    let terminal = matches!(
        state,
        TaskState::TaskFinished
            | TaskState::TaskFailed
            | TaskState::TaskKilled
            | TaskState::TaskError
            | TaskState::TaskLost
            | TaskState::TaskDropped
            | TaskState::TaskGone
            | TaskState::TaskGoneByOperator
    );
    if terminal {
        return Ok(Some(state == TaskState::TaskFinished));
    }
    Ok(None)
}

/// The task's `ContainerInfo`, as Mesos's `mesos-execute` builds it from
/// `--containerizer`, `--docker_image` and `--networks`.
fn container_info(flags: &Flags) -> Result<Option<v1::ContainerInfo>, String> {
    match flags.containerizer.as_str() {
        "mesos" => match &flags.docker_image {
            None => Ok(None),
            Some(_) => Err(
                "--docker_image with --containerizer=mesos needs container images, \
                 which the Mesos containerizer here does not provision yet"
                    .to_string(),
            ),
        },
        "docker" => {
            let image = flags
                .docker_image
                .clone()
                .ok_or("'Docker' containerizer requires docker image name")?;
            let mut docker = v1::container_info::DockerInfo {
                image,
                ..Default::default()
            };
            let mut network_infos = Vec::new();
            if let Some(networks) = flags.networks.as_deref().filter(|n| !n.is_empty()) {
                let names: Vec<&str> = networks.split(',').filter(|n| !n.is_empty()).collect();
                if names.len() > 1 {
                    return Err("'Docker' containerizer can only support a single network".into());
                }
                docker.network = Some(v1::container_info::docker_info::Network::User as i32);
                network_infos.push(v1::NetworkInfo {
                    name: names.first().map(|n| n.to_string()),
                    ..Default::default()
                });
            }
            Ok(Some(v1::ContainerInfo {
                r#type: v1::container_info::Type::Docker as i32,
                docker: Some(docker),
                network_infos,
                ..Default::default()
            }))
        }
        other => Err(format!("Unsupported containerizer: {other}")),
    }
}
