//! The Mesos agent (`mesos-slave`, `mesos-agent`) and the command executor (`mesos-executor`).
