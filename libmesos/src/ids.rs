//! Identifier newtypes: what the master, allocator and agent key their maps by.
//!
//! The wire has one message per identifier and per API version
//! (`mesos.FrameworkID` and `mesos.v1.FrameworkID`, `mesos.SlaveID` and
//! `mesos.v1.AgentID`, ...), all a single `value` string. Inside we use one
//! cheap-to-clone newtype per identifier and convert at the edge.

use std::fmt;
use std::sync::Arc;

use crate::wire::mesos as v0;
use crate::wire::mesos::v1;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $v0:ty, $v1:ty) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Wraps an identifier value.
            pub fn new(value: impl AsRef<str>) -> Self {
                $name(Arc::from(value.as_ref()))
            }

            /// The identifier as written on the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The unversioned (`mesos.*`) wire message.
            pub fn to_v0(&self) -> $v0 {
                <$v0>::from(self)
            }

            /// The `mesos.v1.*` wire message.
            pub fn to_v1(&self) -> $v1 {
                <$v1>::from(self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                $name::new(value)
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                $name(Arc::from(value))
            }
        }

        impl From<&$v0> for $name {
            fn from(id: &$v0) -> Self {
                $name::new(&id.value)
            }
        }

        impl From<&$v1> for $name {
            fn from(id: &$v1) -> Self {
                $name::new(&id.value)
            }
        }

        impl From<&$name> for $v0 {
            fn from(id: &$name) -> Self {
                <$v0>::from_value(id.as_str())
            }
        }

        impl From<&$name> for $v1 {
            fn from(id: &$name) -> Self {
                <$v1>::from_value(id.as_str())
            }
        }
    };
}

trait FromValue {
    fn from_value(value: &str) -> Self;
}

macro_rules! from_value {
    ($($ty:ty),*) => {
        $(impl FromValue for $ty {
            fn from_value(value: &str) -> Self {
                Self { value: value.to_string() }
            }
        })*
    };
}

from_value!(
    v0::FrameworkId,
    v1::FrameworkId,
    v0::SlaveId,
    v1::AgentId,
    v0::OfferId,
    v1::OfferId,
    v0::TaskId,
    v1::TaskId,
    v0::ExecutorId,
    v1::ExecutorId
);

id_type!(
    /// A framework's id (`FrameworkID`), assigned by the master.
    FrameworkId,
    v0::FrameworkId,
    v1::FrameworkId
);
id_type!(
    /// An agent's id (`SlaveID` / `AgentID`), assigned by the master.
    AgentId,
    v0::SlaveId,
    v1::AgentId
);
id_type!(
    /// An offer's id (`OfferID`), assigned by the master.
    OfferId,
    v0::OfferId,
    v1::OfferId
);
id_type!(
    /// A task's id (`TaskID`), chosen by the framework.
    TaskId,
    v0::TaskId,
    v1::TaskId
);
id_type!(
    /// An executor's id (`ExecutorID`), chosen by the framework.
    ExecutorId,
    v0::ExecutorId,
    v1::ExecutorId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_between_versions() {
        let wire = v0::SlaveId { value: "S0".into() };
        let id = AgentId::from(&wire);
        assert_eq!(id.as_str(), "S0");
        assert_eq!(id.to_v1().value, "S0");
        assert_eq!(id.to_v0(), wire);
        assert_eq!(format!("{id}"), "S0");
        assert_eq!(format!("{id:?}"), "AgentId(\"S0\")");
    }
}
