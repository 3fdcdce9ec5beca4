//! `mesos-local` and `mesos-execute`.
