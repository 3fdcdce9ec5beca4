//! Scalar quantities in fixed point, indexed by interned resource name.
//!
//! Dominant shares only look at scalar amounts per resource name, summed
//! over roles and reservations (Mesos's `ResourceQuantities`). Keeping them
//! as dense `i64` vectors indexed by a small name id makes share updates a
//! few integer additions instead of `Resources` merges.

use mesos::resources::{Resources, Value};

/// Units per 1.0, the same 0.001 granularity as [`Resources`].
const FIXED_SCALE: f64 = 1000.0;

/// Converts a scalar to fixed point (saturating, NaN to 0).
pub(crate) fn to_fixed(v: f64) -> i64 {
    (v * FIXED_SCALE).round() as i64
}

/// Converts a fixed-point scalar back to floating point.
pub(crate) fn from_fixed(v: i64) -> f64 {
    v as f64 / FIXED_SCALE
}

/// Interns resource names to dense ids. Names are never forgotten: the set
/// of resource names in a cluster is small (`cpus`, `mem`, `disk`, `gpus`,
/// a few custom ones).
#[derive(Debug, Default)]
pub(crate) struct Names {
    /// Name of each id, in id order.
    names: Vec<String>,
}

impl Names {
    /// The id of `name`, interning it if new.
    pub(crate) fn intern(&mut self, name: &str) -> usize {
        match self.get(name) {
            Some(i) => i,
            None => {
                self.names.push(name.to_string());
                self.names.len() - 1
            }
        }
    }

    /// The id of `name`, if interned. A linear scan: there are few names.
    pub(crate) fn get(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// The name of id `i`.
    pub(crate) fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// How many names are interned.
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// The scalar quantities of `resources`, interning new names.
    pub(crate) fn quantities(&mut self, resources: &Resources) -> Quantities {
        let mut q = Quantities::default();
        for r in resources {
            if let Value::Scalar(v) = r.value {
                let i = self.intern(&r.name);
                q.add_at(i, to_fixed(v));
            }
        }
        q
    }

    /// The scalar quantities of `resources` over already interned names;
    /// scalars of unknown names are ignored (they cannot reach a threshold
    /// that names them, since thresholds are interned up front).
    pub(crate) fn known_quantities(&self, resources: &Resources) -> Quantities {
        let mut q = Quantities(Vec::with_capacity(self.names.len()));
        for r in resources {
            if let Value::Scalar(v) = r.value {
                if let Some(i) = self.get(&r.name) {
                    q.add_at(i, to_fixed(v));
                }
            }
        }
        q
    }
}

/// Fixed-point scalar amounts indexed by name id; missing trailing ids are
/// zero.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Quantities(pub(crate) Vec<i64>);

impl Quantities {
    /// The amount of name id `i`.
    pub(crate) fn get(&self, i: usize) -> i64 {
        self.0.get(i).copied().unwrap_or(0)
    }

    fn add_at(&mut self, i: usize, v: i64) {
        if self.0.len() <= i {
            self.0.resize(i + 1, 0);
        }
        self.0[i] = self.0[i].saturating_add(v);
    }

    /// Adds `other` into `self`.
    pub(crate) fn add(&mut self, other: &Quantities) {
        for (i, v) in other.0.iter().enumerate() {
            if *v != 0 {
                self.add_at(i, *v);
            }
        }
    }

    /// Subtracts `other` from `self`, clamping at zero.
    pub(crate) fn sub(&mut self, other: &Quantities) {
        for (i, v) in other.0.iter().enumerate() {
            if let Some(s) = self.0.get_mut(i) {
                *s = s.saturating_sub(*v).max(0);
            }
        }
    }

    /// Whether every amount of `min` is at most the one in `self`.
    pub(crate) fn contains(&self, min: &[(usize, i64)]) -> bool {
        min.iter().all(|&(i, v)| self.get(i) >= v)
    }

    /// Whether all amounts are zero.
    #[cfg(test)]
    pub(crate) fn is_zero(&self) -> bool {
        self.0.iter().all(|v| *v == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_scalars_over_roles_and_ignores_others() {
        let mut names = Names::default();
        let r = Resources::parse("cpus:1.5;cpus(prod):2;mem:10;ports:[1-5]").unwrap();
        let q = names.quantities(&r);
        let cpus = names.get("cpus").unwrap();
        let mem = names.get("mem").unwrap();
        assert_eq!(q.get(cpus), 3500);
        assert_eq!(q.get(mem), 10_000);
        assert_eq!(names.get("ports"), None);
        assert!(q.contains(&[(cpus, 3500), (mem, 1)]));
        assert!(!q.contains(&[(cpus, 3501)]));

        let mut total = q.clone();
        total.add(&q);
        assert_eq!(total.get(cpus), 7000);
        total.sub(&q);
        total.sub(&q);
        total.sub(&q);
        assert!(total.is_zero(), "subtraction clamps at zero");
        assert_eq!(names.name(mem), "mem");
        assert_eq!(names.len(), 2);
        let unknown = names.known_quantities(&Resources::parse("gpus:1;cpus:1").unwrap());
        assert_eq!(unknown.get(cpus), 1000);
        assert_eq!(names.len(), 2);
    }
}
