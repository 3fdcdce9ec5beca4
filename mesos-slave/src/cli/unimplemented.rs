//! Mesos 1.11 agent flags this agent accepts but does not act on yet, so
//! that existing flag files (`/etc/mesos-slave/<flag>`) and `MESOS_<FLAG>`
//! variables keep working; each one given logs a warning naming it.
//!
//! The list includes the flags Mesos builds only on Linux and those behind
//! its build options (port-mapping and network-ports isolators, XFS disk
//! isolator, seccomp, SSL's `--jwt_secret_key` and
//! `--authenticate_http_executors`), so any Mesos agent's configuration is
//! accepted.

use mesos::flags::Kind;

macro_rules! unimplemented_flags {
    ($($name:ident $(= $alias:literal)?),* $(,)?) => {
        /// Mesos agent flags accepted for compatibility but not acted on yet.
        #[derive(Debug, Clone, clap::Args)]
        #[command(rename_all = "snake_case", next_help_heading = "Mesos flags accepted for compatibility, not implemented yet (each given logs a warning)")]
        pub struct Unimplemented {
            $(
                #[doc = concat!("Mesos's `--", stringify!($name), "` (accepted; not implemented yet).")]
                #[arg(long, value_name = "VALUE", help = concat!("Mesos's --", stringify!($name), " (not implemented yet)") $(, alias = $alias)?)]
                pub $name: Option<String>,
            )*
        }

        impl Unimplemented {
            /// The flags given, by name, with their values.
            pub fn given(&self) -> Vec<(&'static str, &str)> {
                let mut given = Vec::new();
                $(if let Some(value) = &self.$name {
                    given.push((stringify!($name), value.as_str()));
                })*
                given
            }
        }
    };
}

unimplemented_flags!(
    hostname_lookup,
    resource_provider_config_dir,
    csi_plugin_config_dir,
    disk_profile_adaptor,
    launcher,
    image_providers,
    image_provisioner_backend,
    image_gc_config,
    appc_simple_discovery_uri_prefix,
    appc_store_dir,
    docker_registry,
    docker_store_dir,
    docker_volume_checkpoint_dir,
    docker_volume_chown,
    docker_ignore_runtime,
    runtime_dir,
    hadoop_home,
    volume_gid_range,
    http_heartbeat_interval,
    authentication_backoff_factor,
    authentication_timeout_min,
    authentication_timeout_max,
    executor_reregistration_retry_interval,
    jwt_secret_key = "executor_secret_key",
    gc_non_executor_container_sandboxes,
    container_logger,
    recovery_timeout,
    max_completed_executors_per_framework,
    cgroups_destroy_timeout,
    cgroups_cpu_enable_pids_and_tids_count,
    cgroups_net_cls_primary_handle,
    cgroups_net_cls_secondary_handles,
    allowed_devices,
    agent_subsystems = "slave_subsystems",
    host_path_volume_force_creation,
    nvidia_gpu_devices,
    perf_events,
    perf_interval,
    perf_duration,
    revocable_cpu_low_priority,
    systemd_enable_support,
    systemd_runtime_directory,
    effective_capabilities = "allowed_capabilities",
    bounding_capabilities,
    default_container_shm_size,
    disallow_sharing_agent_ipc_namespace,
    disallow_sharing_agent_pid_namespace,
    agent_features,
    firewall_rules,
    credential,
    acls,
    docker_config,
    domain_socket_location,
    default_container_dns,
    default_container_info,
    ephemeral_ports_per_container,
    eth0_name,
    lo_name,
    egress_rate_limit_per_container,
    egress_unique_flow_per_container,
    egress_flow_classifier_parent,
    network_enable_socket_statistics_summary,
    network_enable_socket_statistics_details,
    network_enable_snmp_statistics,
    container_ports_watch_interval,
    check_agent_port_range_only,
    enforce_container_ports,
    container_ports_isolated_range,
    network_cni_plugins_dir,
    network_cni_config_dir,
    network_cni_root_dir_persist,
    network_cni_metrics,
    container_disk_watch_interval,
    enforce_container_disk_quota,
    modules,
    modules_dir,
    authenticatee,
    authorizer,
    http_authenticators,
    authenticate_http_readwrite,
    authenticate_http_readonly,
    authenticate_http_executors,
    http_executor_domain_sockets,
    http_credentials,
    hooks,
    secret_resolver,
    resource_estimator,
    qos_controller,
    qos_correction_interval_min,
    oversubscribed_resources_interval,
    master_detector,
    xfs_project_range,
    xfs_kill_containers,
    seccomp_config_dir,
    seccomp_profile_name,
    ip6,
    ip_discovery_command,
    ip6_discovery_command,
    memory_profiling,
    domain,
);

/// The agent's boolean flags, which also take `--<flag>` alone and
/// `--no-<flag>`.
pub const BOOLEANS: &[&str] = &[
    "strict",
    "switch_user",
    "http_command_executor",
    "quiet",
    "initialize_driver_logging",
    "cgroups_enable_cfs",
    "cgroups_limit_swap",
    "docker_kill_orphans",
    "hostname_lookup",
    "docker_volume_chown",
    "docker_ignore_runtime",
    "gc_non_executor_container_sandboxes",
    "cgroups_cpu_enable_pids_and_tids_count",
    "revocable_cpu_low_priority",
    "systemd_enable_support",
    "disallow_sharing_agent_ipc_namespace",
    "disallow_sharing_agent_pid_namespace",
    "egress_unique_flow_per_container",
    "network_enable_socket_statistics_summary",
    "network_enable_socket_statistics_details",
    "network_enable_snmp_statistics",
    "check_agent_port_range_only",
    "enforce_container_ports",
    "network_cni_root_dir_persist",
    "network_cni_metrics",
    "enforce_container_disk_quota",
    "authenticate_http_readwrite",
    "authenticate_http_readonly",
    "authenticate_http_executors",
    "http_executor_domain_sockets",
    "xfs_kill_containers",
    "memory_profiling",
];

/// Mesos's defaults of the accepted-but-unimplemented flags, as Mesos's
/// `/flags` shows them. Flags of Mesos's optional build features
/// (port-mapping, network-ports and XFS isolators, seccomp, SSL) are left
/// out: a build without them does not list them.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("hostname_lookup", "true"),
    ("appc_simple_discovery_uri_prefix", "http://"),
    ("appc_store_dir", "/tmp/mesos/store/appc"),
    ("docker_registry", "https://registry-1.docker.io"),
    ("docker_store_dir", "/tmp/mesos/store/docker"),
    (
        "docker_volume_checkpoint_dir",
        "/var/run/mesos/isolators/docker/volume",
    ),
    ("docker_volume_chown", "false"),
    ("docker_ignore_runtime", "false"),
    ("http_heartbeat_interval", "30secs"),
    ("authentication_backoff_factor", "1secs"),
    ("authentication_timeout_min", "5secs"),
    ("authentication_timeout_max", "1mins"),
    ("gc_non_executor_container_sandboxes", "false"),
    ("recovery_timeout", "15mins"),
    ("max_completed_executors_per_framework", "150"),
    ("cgroups_destroy_timeout", "1mins"),
    ("cgroups_cpu_enable_pids_and_tids_count", "false"),
    ("perf_interval", "1mins"),
    ("perf_duration", "10secs"),
    ("revocable_cpu_low_priority", "true"),
    ("systemd_enable_support", "true"),
    ("systemd_runtime_directory", "/run/systemd/system"),
    ("disallow_sharing_agent_ipc_namespace", "false"),
    ("disallow_sharing_agent_pid_namespace", "false"),
    ("network_cni_root_dir_persist", "false"),
    ("network_cni_metrics", "true"),
    ("container_disk_watch_interval", "15secs"),
    ("enforce_container_disk_quota", "false"),
    ("authenticatee", "crammd5"),
    ("authorizer", "local"),
    ("authenticate_http_readwrite", "false"),
    ("authenticate_http_readonly", "false"),
    ("http_executor_domain_sockets", "false"),
    ("qos_correction_interval_min", "0ns"),
    ("oversubscribed_resources_interval", "15secs"),
    ("memory_profiling", "false"),
];

/// The types of the accepted-but-unimplemented flags that are not text,
/// so that their values are checked as Mesos checks them.
pub const KINDS: &[(&str, Kind)] = &[
    ("http_heartbeat_interval", Kind::Duration),
    ("authentication_backoff_factor", Kind::Duration),
    ("authentication_timeout_min", Kind::Duration),
    ("authentication_timeout_max", Kind::Duration),
    ("executor_reregistration_retry_interval", Kind::Duration),
    ("recovery_timeout", Kind::Duration),
    ("max_completed_executors_per_framework", Kind::Integer),
    ("cgroups_destroy_timeout", Kind::Duration),
    ("perf_interval", Kind::Duration),
    ("perf_duration", Kind::Duration),
    ("default_container_shm_size", Kind::Bytes),
    ("ephemeral_ports_per_container", Kind::Integer),
    ("egress_rate_limit_per_container", Kind::Bytes),
    ("container_ports_watch_interval", Kind::Duration),
    ("container_disk_watch_interval", Kind::Duration),
    ("qos_correction_interval_min", Kind::Duration),
    ("oversubscribed_resources_interval", Kind::Duration),
];

/// Path-typed flags: Mesos keeps a `file://` value as the path.
pub const PATHS: &[&str] = &["credential", "http_credentials", "jwt_secret_key"];
