//! The Mesos master.
