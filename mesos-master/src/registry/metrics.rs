//! The registrar's `/metrics/snapshot` keys, as Mesos's registrar
//! publishes them: `registrar/state_fetch_ms` and `registrar/state_store_ms`
//! (timers, with `/count`, `/min`, `/max` and percentiles),
//! `registrar/registry_size_bytes` and `registrar/queued_operations`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mesos::metrics::{Source, SourceFuture, Timer};
use mesos::wire::mesos::internal::Registry;
use prost::Message;
use tokio::sync::watch;

/// What the registrar measured; cheap to clone, clones share.
#[derive(Clone, Default)]
pub struct RegistrarMetrics {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    /// Reads of the registry (one, at recovery).
    fetch: Timer,
    /// Writes of the registry.
    store: Timer,
    /// The encoded size of the registry last read or stored; `None` until
    /// recovered (Mesos leaves the key out then).
    size: Option<usize>,
    /// The number of the registry version being stored, or last stored.
    storing: u64,
}

impl RegistrarMetrics {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// A read of `registry` that took `elapsed`.
    pub fn fetched(&self, registry: &Registry, elapsed: Duration) {
        self.with(|inner| {
            inner.fetch.record(elapsed);
            inner.size = Some(registry.encoded_len());
        });
    }

    /// Version `number` is being stored.
    pub fn storing(&self, number: u64) {
        self.with(|inner| inner.storing = number);
    }

    /// A write of `registry` that took `elapsed`.
    pub fn stored(&self, registry: &Registry, elapsed: Duration) {
        self.with(|inner| {
            inner.store.record(elapsed);
            inner.size = Some(registry.encoded_len());
        });
    }

    /// The source for the libprocess instance's metrics. `pending` is the
    /// channel of registry versions waiting to be stored: the versions
    /// taken since the one being stored are Mesos's queued operations
    /// (here each version holds every change made since the previous one).
    pub fn source(&self, pending: watch::Receiver<Option<(u64, Registry)>>) -> Arc<dyn Source> {
        Arc::new(RegistrarSource {
            metrics: self.clone(),
            pending,
        })
    }

    /// The keys, given the number of the latest version taken.
    fn snapshot(&self, latest: u64) -> Vec<(String, f64)> {
        self.with(|inner| {
            let mut values = vec![(
                "registrar/queued_operations".to_string(),
                latest.saturating_sub(inner.storing) as f64,
            )];
            if let Some(size) = inner.size {
                values.push(("registrar/registry_size_bytes".to_string(), size as f64));
            }
            inner.fetch.publish("registrar/state_fetch_ms", &mut values);
            inner.store.publish("registrar/state_store_ms", &mut values);
            values
        })
    }
}

struct RegistrarSource {
    metrics: RegistrarMetrics,
    pending: watch::Receiver<Option<(u64, Registry)>>,
}

impl Source for RegistrarSource {
    fn snapshot(&self) -> SourceFuture {
        let latest = self.pending.borrow().as_ref().map_or(0, |(n, _)| *n);
        let values = self.metrics.snapshot(latest);
        Box::pin(async move { values })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(values: &[(String, f64)]) -> Vec<&str> {
        values.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn keys_appear_as_the_registrar_works() {
        let metrics = RegistrarMetrics::default();
        assert_eq!(keys(&metrics.snapshot(0)), ["registrar/queued_operations"]);
        let registry = Registry::default();
        metrics.fetched(&registry, Duration::from_millis(4));
        let values = metrics.snapshot(0);
        assert!(keys(&values).contains(&"registrar/registry_size_bytes"));
        assert!(keys(&values).contains(&"registrar/state_fetch_ms/p99"));
        assert!(!keys(&values).contains(&"registrar/state_store_ms"));
        metrics.storing(1);
        metrics.stored(&registry, Duration::from_millis(2));
        let values = metrics.snapshot(3);
        assert_eq!(values[0], ("registrar/queued_operations".to_string(), 2.0));
        let value = |key: &str| values.iter().find(|(k, _)| k == key).unwrap().1;
        assert_eq!(value("registrar/state_store_ms"), 2.0);
        assert_eq!(value("registrar/state_store_ms/count"), 1.0);
        assert_eq!(value("registrar/state_fetch_ms"), 4.0);
    }
}
