//! Every flag of Mesos 1.11's agent (`src/slave/flags.cpp`, Linux build
//! with every optional feature, and the logging flags of
//! `src/logging/flags.cpp`), aliases included, written out with a valid
//! value: each must parse, booleans also as `--<flag>` alone and as
//! `--no-<flag>`.

use super::*;

/// `(name, value)`; `None` marks a boolean.
const AGENT_FLAGS: &[(&str, Option<&str>)] = &[
    ("hostname", Some("agent.example.com")),
    ("hostname_lookup", None),
    ("version", None),
    ("resources", Some("cpus:2;mem:1024")),
    (
        "resource_provider_config_dir",
        Some("/etc/mesos/resource-providers"),
    ),
    ("csi_plugin_config_dir", Some("/etc/mesos/csi")),
    (
        "disk_profile_adaptor",
        Some("org_apache_mesos_UriDiskProfileAdaptor"),
    ),
    ("isolation", Some("posix/cpu,posix/mem")),
    ("launcher", Some("posix")),
    ("image_providers", Some("docker")),
    ("image_provisioner_backend", Some("overlay")),
    ("image_gc_config", Some(r#"{"image_disk_headroom":0.1}"#)),
    ("appc_simple_discovery_uri_prefix", Some("http://")),
    ("appc_store_dir", Some("/tmp/mesos/store/appc")),
    ("docker_registry", Some("https://registry-1.docker.io")),
    ("docker_store_dir", Some("/tmp/mesos/store/docker")),
    (
        "docker_volume_checkpoint_dir",
        Some("/var/run/mesos/isolators/docker/volume"),
    ),
    ("docker_volume_chown", None),
    ("docker_ignore_runtime", None),
    ("default_role", Some("*")),
    ("attributes", Some("rack:r1;zone:z1")),
    ("fetcher_cache_size", Some("2GB")),
    ("fetcher_cache_dir", Some("/tmp/mesos/fetch")),
    ("fetcher_stall_timeout", Some("1mins")),
    ("work_dir", Some("/var/lib/mesos")),
    ("runtime_dir", Some("/var/run/mesos")),
    ("launcher_dir", Some("/usr/libexec/mesos")),
    ("hadoop_home", Some("/opt/hadoop")),
    ("switch_user", None),
    ("volume_gid_range", Some("[10000-20000]")),
    ("http_heartbeat_interval", Some("30secs")),
    ("frameworks_home", Some("/opt/frameworks")),
    ("registration_backoff_factor", Some("1secs")),
    ("authentication_backoff_factor", Some("1secs")),
    ("authentication_timeout_min", Some("5secs")),
    ("authentication_timeout_max", Some("1mins")),
    (
        "executor_environment_variables",
        Some(r#"{"PATH":"/bin:/usr/bin"}"#),
    ),
    ("executor_registration_timeout", Some("1mins")),
    ("executor_reregistration_timeout", Some("2secs")),
    ("executor_reregistration_retry_interval", Some("1secs")),
    ("executor_shutdown_grace_period", Some("5secs")),
    ("jwt_secret_key", Some("/etc/mesos/jwt_key")),
    ("executor_secret_key", Some("/etc/mesos/jwt_key")),
    ("gc_delay", Some("1weeks")),
    ("gc_disk_headroom", Some("0.1")),
    ("gc_non_executor_container_sandboxes", None),
    ("disk_watch_interval", Some("1mins")),
    (
        "container_logger",
        Some("org_apache_mesos_LogrotateContainerLogger"),
    ),
    ("recover", Some("reconnect")),
    ("recovery_timeout", Some("15mins")),
    ("reconfiguration_policy", Some("equal")),
    ("strict", None),
    ("max_completed_executors_per_framework", Some("150")),
    ("cgroups_destroy_timeout", Some("1mins")),
    ("cgroups_hierarchy", Some("/sys/fs/cgroup")),
    ("cgroups_root", Some("mesos")),
    ("cgroups_enable_cfs", None),
    ("cgroups_limit_swap", None),
    ("cgroups_cpu_enable_pids_and_tids_count", None),
    ("cgroups_net_cls_primary_handle", Some("0x0012")),
    ("cgroups_net_cls_secondary_handles", Some("0x0001,0xffff")),
    ("allowed_devices", Some(r#"{"allowed_devices":[]}"#)),
    ("agent_subsystems", Some("cpu,memory")),
    ("slave_subsystems", Some("cpu,memory")),
    ("host_path_volume_force_creation", Some("/var/lib/volumes")),
    ("nvidia_gpu_devices", Some("[0]")),
    ("perf_events", Some("cycles,task-clock")),
    ("perf_interval", Some("1mins")),
    ("perf_duration", Some("10secs")),
    ("revocable_cpu_low_priority", None),
    ("systemd_enable_support", None),
    ("systemd_runtime_directory", Some("/run/systemd/system")),
    (
        "effective_capabilities",
        Some(r#"{"capabilities":["NET_RAW"]}"#),
    ),
    (
        "allowed_capabilities",
        Some(r#"{"capabilities":["NET_RAW"]}"#),
    ),
    (
        "bounding_capabilities",
        Some(r#"{"capabilities":["NET_RAW"]}"#),
    ),
    ("default_container_shm_size", Some("64MB")),
    ("disallow_sharing_agent_ipc_namespace", None),
    ("disallow_sharing_agent_pid_namespace", None),
    (
        "agent_features",
        Some(r#"{"capabilities":[{"type":"MULTI_ROLE"}]}"#),
    ),
    (
        "firewall_rules",
        Some(r#"{"disabled_endpoints":{"paths":["/files"]}}"#),
    ),
    ("credential", Some("/etc/mesos/credential")),
    ("acls", Some(r#"{"permissive":true}"#)),
    ("containerizers", Some("mesos")),
    ("docker", Some("docker")),
    ("docker_remove_delay", Some("6hrs")),
    ("docker_kill_orphans", None),
    ("docker_mesos_image", Some("mesosphere/mesos-slave")),
    ("docker_socket", Some("/var/run/docker.sock")),
    ("docker_config", Some(r#"{"auths":{}}"#)),
    ("sandbox_directory", Some("/mnt/mesos/sandbox")),
    ("domain_socket_location", Some("/var/run/mesos/agent.sock")),
    ("default_container_dns", Some(r#"{"mesos":[],"docker":[]}"#)),
    ("default_container_info", Some(r#"{"type":"MESOS"}"#)),
    ("docker_stop_timeout", Some("0ns")),
    ("ephemeral_ports_per_container", Some("1024")),
    ("eth0_name", Some("eth0")),
    ("lo_name", Some("lo")),
    ("egress_rate_limit_per_container", Some("10MB")),
    ("egress_unique_flow_per_container", None),
    ("egress_flow_classifier_parent", Some("root")),
    ("network_enable_socket_statistics_summary", None),
    ("network_enable_socket_statistics_details", None),
    ("network_enable_snmp_statistics", None),
    ("container_ports_watch_interval", Some("30secs")),
    ("check_agent_port_range_only", None),
    ("enforce_container_ports", None),
    ("container_ports_isolated_range", Some("[31000-32000]")),
    ("network_cni_plugins_dir", Some("/opt/cni/bin")),
    ("network_cni_config_dir", Some("/etc/cni/net.d")),
    ("network_cni_root_dir_persist", None),
    ("network_cni_metrics", None),
    ("container_disk_watch_interval", Some("15secs")),
    ("enforce_container_disk_quota", None),
    ("modules", Some(r#"{"libraries":[]}"#)),
    ("modules_dir", Some("/etc/mesos/modules")),
    ("authenticatee", Some("crammd5")),
    ("authorizer", Some("local")),
    ("http_authenticators", Some("basic")),
    ("authenticate_http_readwrite", None),
    ("authenticate_http_readonly", None),
    ("authenticate_http_executors", None),
    ("http_executor_domain_sockets", None),
    ("http_credentials", Some("/etc/mesos/http_credentials")),
    ("hooks", Some("org_apache_mesos_TestHook")),
    ("secret_resolver", Some("org_apache_mesos_SecretResolver")),
    (
        "resource_estimator",
        Some("org_apache_mesos_FixedResourceEstimator"),
    ),
    ("qos_controller", Some("org_apache_mesos_LoadQoSController")),
    ("qos_correction_interval_min", Some("0ns")),
    ("oversubscribed_resources_interval", Some("15secs")),
    ("master_detector", Some("org_apache_mesos_Detector")),
    ("xfs_project_range", Some("[5000-10000]")),
    ("xfs_kill_containers", None),
    ("seccomp_config_dir", Some("/etc/mesos/seccomp")),
    ("seccomp_profile_name", Some("default.json")),
    ("http_command_executor", None),
    ("ip", Some("127.0.0.1")),
    ("ip6", Some("::1")),
    ("port", Some("5051")),
    ("advertise_ip", Some("127.0.0.2")),
    ("advertise_port", Some("15051")),
    ("master", Some("zk://127.0.0.1:2181/mesos")),
    ("zk_session_timeout", Some("10secs")),
    ("ip_discovery_command", Some("hostname -i")),
    ("ip6_discovery_command", Some("hostname -i")),
    ("memory_profiling", None),
    (
        "domain",
        Some(r#"{"fault_domain":{"region":{"name":"r"},"zone":{"name":"z"}}}"#),
    ),
    ("quiet", None),
    ("logging_level", Some("WARNING")),
    ("log_dir", Some("/var/log/mesos")),
    ("logbufsecs", Some("0")),
    ("initialize_driver_logging", None),
    ("external_log_file", Some("/var/log/syslog")),
];

fn load_args(list: &[String]) -> Result<(AgentFlags, Vec<String>), String> {
    let args = std::iter::once("mesos-agent".to_string())
        .chain(list.iter().cloned())
        .collect();
    load(args, std::iter::empty())
}

#[test]
fn every_mesos_agent_flag_is_recognized() {
    assert_eq!(
        AGENT_FLAGS.len(),
        143 + 6 + 3,
        "143 flags, 6 logging flags, 3 aliases"
    );
    let mut refused = Vec::new();
    for (name, value) in AGENT_FLAGS {
        let forms: Vec<String> = match value {
            Some(value) => vec![format!("--{name}={value}")],
            None => vec![
                format!("--{name}"),
                format!("--{name}=true"),
                format!("--{name}=false"),
                format!("--no-{name}"),
            ],
        };
        for form in forms {
            let mut args = vec![form.clone()];
            if *name != "work_dir" {
                args.push("--work_dir=/w".into());
            }
            if let Err(error) = load_args(&args) {
                refused.push(format!("{form}: {error}"));
            }
        }
    }
    assert!(refused.is_empty(), "refused: {refused:#?}");
}

#[test]
fn every_mesos_agent_flag_is_read_from_the_environment() {
    use clap::CommandFactory;
    for (name, value) in AGENT_FLAGS {
        if *name == "version" {
            continue;
        }
        let value = value.unwrap_or("false");
        let mut env = vec![(format!("MESOS_{}", name.to_uppercase()), value.to_string())];
        if *name != "work_dir" {
            env.push(("MESOS_WORK_DIR".to_string(), "/w".to_string()));
        }
        let args = vec!["mesos-agent".to_string()];
        let (flags, _) = load(args, env).unwrap_or_else(|e| panic!("MESOS_{name}: {e}"));
        let long = AgentFlags::command()
            .get_arguments()
            .find(|a| {
                a.get_long() == Some(name)
                    || a.get_all_aliases()
                        .is_some_and(|aliases| aliases.contains(name))
            })
            .and_then(|a| a.get_long())
            .map(String::from)
            .unwrap();
        let shown = flags.to_map();
        let expected = value;
        assert_eq!(
            shown.get(&long).map(String::as_str),
            Some(expected),
            "MESOS_{name}"
        );
    }
}

#[test]
fn unknown_duplicate_and_missing_flags_fail_with_mesos_messages() {
    let err = |list: &[&str]| {
        load_args(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .err()
            .unwrap_or_else(|| panic!("{list:?} loaded"))
    };
    assert_eq!(
        err(&["--work_dir=/w", "--foo=bar"]),
        "Failed to load unknown flag 'foo'"
    );
    assert_eq!(
        err(&[
            "--work_dir=/w",
            "--slave_subsystems=cpu",
            "--agent_subsystems=cpu"
        ]),
        "Flag 'agent_subsystems' is already loaded via name 'slave_subsystems'"
    );
    assert_eq!(
        err(&["--master=127.0.0.1:5050"]),
        "Flag 'work_dir' is required, but it was not provided"
    );
    assert!(err(&["--work_dir=/w", "--port=x"]).starts_with("Failed to load flag 'port': "));
    let (flags, _) = load_args(&["--work_dir=/w".to_string()]).unwrap();
    assert_eq!(
        flags.to_config().unwrap_err().to_string(),
        "Missing required option `--master` or `--master_detector`"
    );
}

#[test]
fn deprecated_names_warn_and_flags_endpoint_uses_mesos_names() {
    let (flags, warnings) = load_args(&[
        "--work_dir=/w".to_string(),
        "--slave_subsystems=cpu,memory".to_string(),
        "--no-systemd_enable_support".to_string(),
    ])
    .unwrap();
    assert_eq!(warnings, ["Loaded deprecated flag 'slave_subsystems'"]);
    let shown = flags.to_map();
    assert_eq!(shown["agent_subsystems"], "cpu,memory");
    assert!(!shown.contains_key("slave_subsystems"));
    assert_eq!(shown["systemd_enable_support"], "false");
    assert_eq!(shown["gc_delay"], "1weeks");
    assert_eq!(shown["authenticatee"], "crammd5");
    assert_eq!(shown["port"], "5051");
    assert!(
        !shown.contains_key("ephemeral_ports_per_container"),
        "port-mapping flags are only shown when given"
    );
}

#[test]
fn file_values_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let acls = dir.path().join("acls");
    std::fs::write(&acls, "{\"permissive\":false}\n").unwrap();
    let (flags, _) = load_args(&[
        "--work_dir=/w".to_string(),
        format!("--acls=file://{}", acls.display()),
    ])
    .unwrap();
    assert_eq!(
        flags.unimplemented.acls.as_deref(),
        Some("{\"permissive\":false}")
    );
}

#[test]
fn values_of_flags_not_implemented_are_checked_as_mesos_checks_them() {
    let err = |flag: &str| {
        load_args(&["--work_dir=/w".to_string(), flag.to_string()])
            .err()
            .unwrap_or_else(|| panic!("{flag} loaded"))
    };
    assert!(
        err("--perf_interval=banana")
            .starts_with("Failed to load flag 'perf_interval': Failed to load value 'banana': "),
        "{}",
        err("--perf_interval=banana")
    );
    assert!(err("--gc_delay=banana").starts_with("Failed to load flag 'gc_delay': "));
    assert!(
        err("--systemd_enable_support=maybe")
            .starts_with("Failed to load flag 'systemd_enable_support'")
    );
    assert!(err("--max_completed_executors_per_framework=lots").starts_with("Failed to load flag"));
    assert!(err("--default_container_shm_size=big").starts_with("Failed to load flag"));
    // Path-typed flags keep their path, as in Mesos.
    let (flags, _) = load_args(&[
        "--work_dir=/w".to_string(),
        "--credential=file:///etc/mesos/credential".to_string(),
    ])
    .unwrap();
    assert_eq!(
        flags.unimplemented.credential.as_deref(),
        Some("file:///etc/mesos/credential")
    );
}

#[test]
fn flags_mesos_refuses_together() {
    let check = |list: &[&str]| {
        let args: Vec<String> = std::iter::once("--work_dir=/w")
            .chain(list.iter().copied())
            .map(String::from)
            .collect();
        let (flags, _) = load_args(&args).unwrap();
        flags.check().map_err(|e| e.to_string())
    };
    assert_eq!(
        check(&["--master=127.0.0.1:5050", "--master_detector=d"]).unwrap_err(),
        "Only one of `--master` or `--master_detector` should be specified"
    );
    assert_eq!(
        check(&["--ip=127.0.0.1", "--ip_discovery_command=hostname -i"]).unwrap_err(),
        "Only one of `--ip` or `--ip_discovery_command` should be specified"
    );
    assert_eq!(
        check(&["--ip6=::1", "--ip6_discovery_command=hostname -i"]).unwrap_err(),
        "Only one of `--ip6` or `--ip6_discovery_command` should be specified"
    );
    assert!(check(&["--master=127.0.0.1:5050"]).is_ok());
}
