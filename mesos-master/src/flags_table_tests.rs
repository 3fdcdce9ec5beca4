//! Every flag of Mesos 1.11's `mesos-master` (`src/master/flags.cpp` and
//! the logging flags of `src/logging/flags.cpp`), aliases included, written
//! out with a valid value: each must parse, booleans also as `--<flag>`
//! alone and as `--no-<flag>`.

use super::*;

/// `(name, value)`; `None` marks a boolean.
const MASTER_FLAGS: &[(&str, Option<&str>)] = &[
    ("version", None),
    ("hostname", Some("master.example.com")),
    ("hostname_lookup", None),
    ("root_submissions", None),
    ("work_dir", Some("/var/lib/mesos")),
    ("registry", Some("in_memory")),
    ("quorum", Some("1")),
    ("zk_session_timeout", Some("10secs")),
    ("registry_strict", None),
    ("registry_fetch_timeout", Some("1mins")),
    ("registry_store_timeout", Some("20secs")),
    ("log_auto_initialize", None),
    ("agent_reregister_timeout", Some("10mins")),
    ("slave_reregister_timeout", Some("10mins")),
    ("recovery_agent_removal_limit", Some("100%")),
    ("recovery_slave_removal_limit", Some("50%")),
    ("agent_removal_rate_limit", Some("1/10mins")),
    ("slave_removal_rate_limit", Some("1/10mins")),
    ("webui_dir", Some("/usr/share/mesos/webui")),
    ("whitelist", Some("/etc/mesos/whitelist")),
    ("role_sorter", Some("drf")),
    ("user_sorter", Some("random")),
    ("framework_sorter", Some("drf")),
    ("allocation_interval", Some("1secs")),
    ("cluster", Some("prod")),
    ("roles", Some("a,b")),
    ("weights", Some("a=2,b=1")),
    ("authenticate_frameworks", None),
    ("authenticate", None),
    ("authenticate_agents", None),
    ("authenticate_slaves", None),
    ("authentication_v0_timeout", Some("15secs")),
    ("authenticate_http_readwrite", None),
    ("authenticate_http", None),
    ("authenticate_http_readonly", None),
    ("authenticate_http_frameworks", None),
    ("credentials", Some("/etc/mesos/credentials")),
    ("acls", Some(r#"{"permissive":true}"#)),
    (
        "firewall_rules",
        Some(r#"{"disabled_endpoints":{"paths":["/files"]}}"#),
    ),
    ("rate_limits", Some(r#"{"limits":[]}"#)),
    ("max_executors_per_agent", Some("10")),
    ("max_executors_per_slave", Some("10")),
    ("offer_timeout", Some("1mins")),
    ("modules", Some(r#"{"libraries":[]}"#)),
    ("modules_dir", Some("/etc/mesos/modules")),
    ("authenticators", Some("crammd5")),
    ("allocator", Some("hierarchical")),
    ("allocator_agent_recovery_factor", Some("0.8")),
    ("allocator_recovery_timeout", Some("10mins")),
    ("fair_sharing_excluded_resource_names", Some("gpus")),
    ("filter_gpu_resources", None),
    ("min_allocatable_resources", Some("cpus:0.01|mem:32")),
    ("hooks", Some("org_apache_mesos_TestHook")),
    ("agent_ping_timeout", Some("15secs")),
    ("slave_ping_timeout", Some("15secs")),
    ("max_agent_ping_timeouts", Some("5")),
    ("max_slave_ping_timeouts", Some("5")),
    ("authorizers", Some("local")),
    ("http_authenticators", Some("basic")),
    ("http_framework_authenticators", Some("basic")),
    ("max_operator_event_stream_subscribers", Some("1000")),
    ("max_completed_frameworks", Some("50")),
    ("max_completed_tasks_per_framework", Some("1000")),
    ("max_unreachable_tasks_per_framework", Some("1000")),
    ("master_contender", Some("org_apache_mesos_Contender")),
    ("master_detector", Some("org_apache_mesos_Detector")),
    ("registry_gc_interval", Some("15mins")),
    ("registry_max_agent_age", Some("2weeks")),
    ("registry_max_agent_count", Some("102400")),
    ("ip", Some("127.0.0.1")),
    ("port", Some("5050")),
    ("advertise_ip", Some("127.0.0.2")),
    ("advertise_port", Some("15050")),
    ("memory_profiling", None),
    ("zk", Some("zk://127.0.0.1:2181/mesos")),
    ("ip_discovery_command", Some("hostname -i")),
    ("require_agent_domain", None),
    ("publish_per_framework_metrics", None),
    (
        "domain",
        Some(r#"{"fault_domain":{"region":{"name":"r"},"zone":{"name":"z"}}}"#),
    ),
    ("offer_constraints_re2_max_mem", Some("4KB")),
    ("offer_constraints_re2_max_program_size", Some("100")),
    // src/logging/flags.cpp
    ("quiet", None),
    ("logging_level", Some("WARNING")),
    ("log_dir", Some("/var/log/mesos")),
    ("logbufsecs", Some("0")),
    ("initialize_driver_logging", None),
    ("external_log_file", Some("/var/log/syslog")),
];

fn parse(list: &[String]) -> Result<Parsed, String> {
    let args = std::iter::once("mesos-master".to_string()).chain(list.iter().cloned());
    parse_with_env(args, std::iter::empty())
}

#[test]
fn every_mesos_master_flag_is_recognized() {
    assert_eq!(
        MASTER_FLAGS.len(),
        71 + 6 + 10,
        "71 flags, 6 logging flags, 10 aliases"
    );
    let mut refused = Vec::new();
    for (name, value) in MASTER_FLAGS {
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
            if let Err(error) = parse(std::slice::from_ref(&form)) {
                refused.push(format!("{form}: {error}"));
            }
        }
    }
    assert!(refused.is_empty(), "refused: {refused:#?}");
}

#[test]
fn every_mesos_master_flag_is_read_from_the_environment() {
    for (name, value) in MASTER_FLAGS {
        if *name == "version" {
            continue;
        }
        let value = value.unwrap_or("true");
        let env = [(format!("MESOS_{}", name.to_uppercase()), value.to_string())];
        let args = ["mesos-master".to_string()];
        let parsed = parse_with_env(args, env).unwrap_or_else(|e| panic!("MESOS_{name}: {e}"));
        let long = MasterFlags::command()
            .get_arguments()
            .find(|a| {
                a.get_long() == Some(name)
                    || a.get_all_aliases()
                        .is_some_and(|aliases| aliases.contains(name))
            })
            .and_then(|a| a.get_long())
            .map(String::from)
            .unwrap();
        let effective: std::collections::HashMap<_, _> = parsed.effective.into_iter().collect();
        assert_eq!(
            effective.get(&long).map(String::as_str),
            Some(value),
            "MESOS_{name}"
        );
    }
}

#[test]
fn unknown_and_malformed_flags_fail_with_mesos_messages() {
    let err = |list: &[&str]| {
        parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .err()
            .unwrap_or_else(|| panic!("{list:?} parsed"))
    };
    assert_eq!(err(&["--foo=1"]), "Failed to load unknown flag 'foo'");
    assert_eq!(
        err(&["--no-foo"]),
        "Failed to load unknown flag 'foo' via 'no-foo'"
    );
    assert_eq!(
        err(&["--no-port"]),
        "Failed to load non-boolean flag 'port' via 'no-port'"
    );
    assert_eq!(
        err(&["--port"]),
        "Failed to load non-boolean flag 'port': Missing value"
    );
    assert_eq!(
        err(&["--no-quiet=true"]),
        "Failed to load boolean flag 'quiet' via 'no-quiet' with value 'true'"
    );
    assert_eq!(
        err(&["--agent_ping_timeout=1secs", "--slave_ping_timeout=2secs"]),
        "Flag 'slave_ping_timeout' is already loaded via name 'agent_ping_timeout'"
    );
    assert!(err(&["--port=http"]).starts_with("Failed to load flag 'port': "));
    assert!(
        err(&["--allocation_interval=soon"])
            .starts_with("Failed to load flag 'allocation_interval': ")
    );
}

#[test]
fn deprecated_names_warn_as_mesos_does() {
    let parsed = parse(&[
        "--slave_ping_timeout=3secs".to_string(),
        "--authenticate".to_string(),
    ])
    .unwrap();
    assert_eq!(
        parsed.load_warnings,
        [
            "Loaded deprecated flag 'slave_ping_timeout'",
            "Loaded deprecated flag 'authenticate'"
        ]
    );
    assert_eq!(parsed.flags.agent_ping_timeout, Duration::from_secs(3));
    assert_eq!(
        parsed
            .flags
            .unimplemented
            .authenticate_frameworks
            .as_deref(),
        Some("true")
    );
}

#[test]
fn file_values_are_read_for_any_flag() {
    let dir = std::env::temp_dir().join(format!("mesos-master-flags-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let weights = dir.join("weights");
    std::fs::write(&weights, "a=3\n").unwrap();
    let acls = dir.join("acls");
    std::fs::write(&acls, "{\"permissive\":false}\n").unwrap();
    let parsed = parse(&[
        "--registry=in_memory".to_string(),
        format!("--weights=file://{}", weights.display()),
        format!("--acls=file://{}", acls.display()),
    ])
    .unwrap();
    assert_eq!(
        parsed.flags.weights().unwrap(),
        vec![("a".to_string(), 3.0)]
    );
    assert_eq!(
        parsed.flags.unimplemented.acls.as_deref(),
        Some("{\"permissive\":false}")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn required_flags_as_mesos_checks_them() {
    let flags = parse(&[]).unwrap().flags;
    assert_eq!(
        flags.validate().unwrap_err().to_string(),
        "--work_dir needed for replicated log based registry"
    );
    let flags = parse(&["--work_dir=/w".into(), "--zk=zk://127.0.0.1:2181/m".into()])
        .unwrap()
        .flags;
    assert_eq!(
        flags.validate().unwrap_err().to_string(),
        "Need to specify --quorum for replicated log based registry when using ZooKeeper"
    );
    let flags = parse(&["--registry=in_memory".into()]).unwrap().flags;
    flags.validate().unwrap();
}

#[test]
fn flags_endpoint_lists_mesos_defaults_by_mesos_names() {
    let parsed = parse(&[
        "--registry=in_memory".into(),
        "--slave_ping_timeout=3secs".into(),
    ])
    .unwrap();
    let effective: std::collections::HashMap<_, _> = parsed.effective.into_iter().collect();
    assert_eq!(effective["agent_ping_timeout"], "3secs");
    assert!(!effective.contains_key("slave_ping_timeout"));
    for (name, value) in [
        ("port", "5050"),
        ("hostname_lookup", "true"),
        ("authenticators", "crammd5"),
        ("root_submissions", "true"),
        ("max_agent_ping_timeouts", "5"),
        ("logging_level", "INFO"),
        ("allocator", "hierarchical"),
        ("zk_session_timeout", "10secs"),
    ] {
        assert_eq!(
            effective.get(name).map(String::as_str),
            Some(value),
            "{name}"
        );
    }
}

#[test]
fn values_of_flags_not_implemented_are_checked_as_mesos_checks_them() {
    let err = |flag: &str| {
        parse(&["--registry=in_memory".to_string(), flag.to_string()])
            .err()
            .unwrap_or_else(|| panic!("{flag} loaded"))
    };
    assert!(err("--allocator_recovery_timeout=later").starts_with(
        "Failed to load flag 'allocator_recovery_timeout': Failed to load value 'later': "
    ));
    assert!(
        err("--root_submissions=perhaps").starts_with("Failed to load flag 'root_submissions'")
    );
    assert!(err("--max_operator_event_stream_subscribers=many").starts_with("Failed to load flag"));
    assert!(err("--offer_constraints_re2_max_mem=lots").starts_with("Failed to load flag"));
    // Path-typed flags keep their path, as in Mesos.
    let parsed = parse(&[
        "--registry=in_memory".to_string(),
        "--credentials=file:///etc/mesos/credentials".to_string(),
    ])
    .unwrap();
    assert_eq!(
        parsed.flags.unimplemented.credentials.as_deref(),
        Some("file:///etc/mesos/credentials")
    );
}

#[test]
fn flags_mesos_refuses_together() {
    let check = |list: &[&str]| {
        let args: Vec<String> = std::iter::once("--registry=in_memory")
            .chain(list.iter().copied())
            .map(String::from)
            .collect();
        parse(&args)
            .unwrap()
            .flags
            .validate()
            .map_err(|e| e.to_string())
    };
    assert_eq!(
        check(&["--ip=127.0.0.1", "--ip_discovery_command=hostname -i"]).unwrap_err(),
        "Only one of `--ip` or `--ip_discovery_command` should be specified"
    );
    assert_eq!(
        check(&["--master_contender=c"]).unwrap_err(),
        "Both --master_contender and --master_detector should be specified or omitted."
    );
    assert!(check(&["--master_contender=c", "--master_detector=d"]).is_ok());
    assert_eq!(
        check(&["--zk=zk://127.0.0.1:2181/m", "--master_detector=d"]).unwrap_err(),
        "Only one of --zk or the --master_contender/--master_detector pair should be specified."
    );
    assert_eq!(
        check(&["--modules={}", "--modules_dir=/m"]).unwrap_err(),
        "Only one of --modules or --modules_dir should be specified"
    );
}
