//! libprocess's `metrics` process: `/metrics/snapshot`, the flat JSON map
//! of every metric the daemons on one libprocess instance publish, and
//! `/metrics`, the same figures in the Prometheus text format.
//!
//! Each daemon adds a [`Source`] to its instance's [`Metrics`] (the master
//! its `master/...` and `allocator/...` keys, the agent its `slave/...`
//! keys); the `system/...` keys are read here. A master and an agent in one
//! process (`mesos-local`) share one snapshot, as they do in Mesos.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;

use crate::process::{Body, HttpHandler, ResponseFuture, respond};

/// What a source answers: metric names and their values.
pub type SourceFuture = Pin<Box<dyn Future<Output = Vec<(String, f64)>> + Send>>;

/// Something that publishes metrics.
pub trait Source: Send + Sync + 'static {
    /// The current values. A source that does not answer within the
    /// snapshot's `timeout` is left out of that snapshot.
    fn snapshot(&self) -> SourceFuture;
}

/// The metrics of one libprocess instance. Cheap to clone; clones share.
#[derive(Clone, Default)]
pub struct Metrics {
    sources: Arc<Mutex<Vec<Arc<dyn Source>>>>,
}

impl Metrics {
    /// No sources yet: a snapshot holds the `system/...` keys alone.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Publishes `source`'s metrics from now on.
    pub fn add(&self, source: Arc<dyn Source>) {
        self.sources
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(source);
    }

    /// Every source's values and the system's, sorted by name; sources
    /// slower than `timeout` are left out.
    pub async fn snapshot(&self, timeout: Option<Duration>) -> BTreeMap<String, f64> {
        let sources: Vec<_> = self
            .sources
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let mut values: BTreeMap<String, f64> = system().into_iter().collect();
        let answers = sources.iter().map(|source| {
            let future = source.snapshot();
            async move {
                match timeout {
                    Some(timeout) => tokio::time::timeout(timeout, future).await.ok(),
                    None => Some(future.await),
                }
            }
        });
        for answer in futures_join(answers).await.into_iter().flatten() {
            values.extend(answer);
        }
        values
    }
}

/// Awaits all of `futures`, concurrently.
async fn futures_join<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut results = Vec::with_capacity(handles.len());
    for handle in handles {
        if let Ok(result) = handle.await {
            results.push(result);
        }
    }
    results
}

/// `system/cpus_total`, `system/load_{1,5,15}min`, `system/mem_total_bytes`
/// and `system/mem_free_bytes`, from `/proc` (left out where unreadable).
pub fn system() -> Vec<(String, f64)> {
    let mut values = Vec::new();
    if let Ok(cpus) = std::thread::available_parallelism() {
        values.push(("system/cpus_total".to_string(), cpus.get() as f64));
    }
    if let Ok(loadavg) = std::fs::read_to_string("/proc/loadavg") {
        let loads: Vec<f64> = loadavg
            .split_whitespace()
            .take(3)
            .filter_map(|v| v.parse().ok())
            .collect();
        if let [one, five, fifteen] = loads[..] {
            values.push(("system/load_1min".to_string(), one));
            values.push(("system/load_5min".to_string(), five));
            values.push(("system/load_15min".to_string(), fifteen));
        }
    }
    if let Ok(meminfo) = std::fs::read_to_string("/proc/meminfo") {
        let field = |name: &str| {
            meminfo.lines().find_map(|line| {
                let rest = line.strip_prefix(name)?.strip_prefix(':')?;
                let kb: f64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
                Some(kb * 1024.0)
            })
        };
        if let Some(total) = field("MemTotal") {
            values.push(("system/mem_total_bytes".to_string(), total));
        }
        // Mesos reports MemFree, not MemAvailable.
        if let Some(free) = field("MemFree") {
            values.push(("system/mem_free_bytes".to_string(), free));
        }
    }
    values
}

/// How many of the latest values a [`Timer`] keeps for its percentiles.
const TIMER_WINDOW: usize = 1000;

/// A libprocess timer: the last value under its own name, plus `/count`,
/// `/min`, `/max`, `/p50`, `/p90`, `/p95`, `/p99`, `/p999` and `/p9999`
/// over the latest values (none of them before the first value).
#[derive(Debug, Clone, Default)]
pub struct Timer {
    values: VecDeque<f64>,
    count: u64,
}

impl Timer {
    /// Records one duration, in milliseconds.
    pub fn record(&mut self, elapsed: Duration) {
        if self.values.len() == TIMER_WINDOW {
            self.values.pop_front();
        }
        self.values.push_back(elapsed.as_secs_f64() * 1000.0);
        self.count += 1;
    }

    /// The timer's keys under `name` (e.g. `allocator/mesos/allocation_run_ms`).
    pub fn publish(&self, name: &str, into: &mut Vec<(String, f64)>) {
        let Some(&last) = self.values.back() else {
            return;
        };
        into.push((name.to_string(), last));
        let mut sorted: Vec<f64> = self.values.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        into.push((format!("{name}/count"), self.count as f64));
        into.push((format!("{name}/min"), sorted[0]));
        into.push((format!("{name}/max"), sorted[sorted.len() - 1]));
        for (suffix, p) in [
            ("p50", 0.5),
            ("p90", 0.9),
            ("p95", 0.95),
            ("p99", 0.99),
            ("p999", 0.999),
            ("p9999", 0.9999),
        ] {
            into.push((format!("{name}/{suffix}"), percentile(&sorted, p)));
        }
    }
}

/// Linear interpolation between the closest ranks, as stout's
/// `Statistics` does.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let position = p * (sorted.len() - 1) as f64;
    let lower = position.floor() as usize;
    let upper = position.ceil() as usize;
    let weight = position - lower as f64;
    sorted[lower] + (sorted[upper] - sorted[lower]) * weight
}

/// The figures as Prometheus text: one gauge per metric, its name with
/// every character Prometheus does not allow turned into `_`
/// (`master/cpus_total` is `master_cpus_total`).
pub fn prometheus(values: &BTreeMap<String, f64>) -> String {
    let mut text = String::new();
    let mut seen = std::collections::HashSet::new();
    for (name, value) in values {
        let mut metric: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        if metric.starts_with(|c: char| c.is_ascii_digit()) {
            metric.insert(0, '_');
        }
        // Two Mesos names can map onto one Prometheus name; the first wins.
        if !seen.insert(metric.clone()) {
            continue;
        }
        text.push_str(&format!("# TYPE {metric} gauge\n{metric} {value}\n"));
    }
    text
}

/// Serves `/metrics/snapshot` and `/metrics` for `metrics`.
pub struct MetricsApi {
    metrics: Metrics,
}

impl MetricsApi {
    /// Serves `metrics`.
    pub fn new(metrics: Metrics) -> MetricsApi {
        MetricsApi { metrics }
    }
}

impl HttpHandler for MetricsApi {
    fn handle(&self, request: Request<Incoming>, path: String) -> ResponseFuture {
        let metrics = self.metrics.clone();
        Box::pin(async move {
            if request.method() != Method::GET && request.method() != Method::HEAD {
                return respond(
                    StatusCode::METHOD_NOT_ALLOWED,
                    &format!("Expecting a 'GET' request, received '{}'", request.method()),
                );
            }
            let query = request.uri().query().unwrap_or("");
            let param = |name: &str| {
                query.split('&').find_map(|pair| {
                    pair.strip_prefix(name)
                        .and_then(|rest| rest.strip_prefix('='))
                })
            };
            let timeout = match param("timeout") {
                None => None,
                Some(text) => match crate::flags::parse_duration(text) {
                    Ok(timeout) => Some(timeout),
                    Err(error) => {
                        return respond(
                            StatusCode::BAD_REQUEST,
                            &format!("Failed to parse 'timeout': {error}"),
                        );
                    }
                },
            };
            match path.trim_end_matches('/') {
                "/snapshot" => {
                    let values = metrics.snapshot(timeout).await;
                    let text = serde_json::Value::Object(
                        values
                            .into_iter()
                            .map(|(name, value)| (name, json_number(value)))
                            .collect(),
                    )
                    .to_string();
                    json_response(text, param("jsonp"))
                }
                "" => {
                    let values = metrics.snapshot(timeout).await;
                    let mut response = Response::new(Body::full(prometheus(&values)));
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        header::HeaderValue::from_static("text/plain; version=0.0.4"),
                    );
                    response
                }
                _ => respond(StatusCode::NOT_FOUND, ""),
            }
        })
    }
}

/// Mesos publishes every value as a double (`1.0`); non-finite values,
/// which JSON cannot hold, as 0.
fn json_number(value: f64) -> serde_json::Value {
    serde_json::Number::from_f64(value)
        .map(serde_json::Value::Number)
        .unwrap_or_else(|| serde_json::Value::from(0.0))
}

/// A JSON body, wrapped as `callback(...)` for `?jsonp=callback`.
pub fn json_response(text: String, jsonp: Option<&str>) -> Response<Body> {
    let callback = jsonp.filter(|c| {
        !c.is_empty()
            && c.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '.')
    });
    let (body, content_type) = match callback {
        Some(callback) => (format!("{callback}({text});"), "text/javascript"),
        None => (text, "application/json"),
    };
    let mut response = Response::new(Body::full(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Vec<(String, f64)>);

    impl Source for Fixed {
        fn snapshot(&self) -> SourceFuture {
            let values = self.0.clone();
            Box::pin(async move { values })
        }
    }

    struct Stuck;

    impl Source for Stuck {
        fn snapshot(&self) -> SourceFuture {
            Box::pin(std::future::pending())
        }
    }

    #[tokio::test]
    async fn a_snapshot_merges_sources_and_the_system_keys() {
        let metrics = Metrics::new();
        metrics.add(Arc::new(Fixed(vec![("master/elected".into(), 1.0)])));
        metrics.add(Arc::new(Fixed(vec![("slave/registered".into(), 0.0)])));
        let values = metrics.snapshot(None).await;
        assert_eq!(values["master/elected"], 1.0);
        assert_eq!(values["slave/registered"], 0.0);
        assert!(values["system/cpus_total"] >= 1.0);
        assert!(values["system/mem_total_bytes"] > values["system/mem_free_bytes"]);
        assert!(values.contains_key("system/load_15min"));
    }

    #[tokio::test]
    async fn a_source_slower_than_the_timeout_is_left_out() {
        let metrics = Metrics::new();
        metrics.add(Arc::new(Stuck));
        metrics.add(Arc::new(Fixed(vec![("master/elected".into(), 1.0)])));
        let values = metrics.snapshot(Some(Duration::from_millis(50))).await;
        assert_eq!(values["master/elected"], 1.0);
    }

    #[test]
    fn a_timer_publishes_its_last_value_and_statistics() {
        let mut timer = Timer::default();
        let mut out = Vec::new();
        timer.publish("t_ms", &mut out);
        assert!(out.is_empty(), "nothing before the first value");
        for ms in 1..=100 {
            timer.record(Duration::from_millis(ms));
        }
        timer.publish("t_ms", &mut out);
        let get = |name: &str| out.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(get("t_ms"), 100.0);
        assert_eq!(get("t_ms/count"), 100.0);
        assert_eq!(get("t_ms/min"), 1.0);
        assert_eq!(get("t_ms/max"), 100.0);
        assert!((get("t_ms/p50") - 50.5).abs() < 1e-9);
        assert!((get("t_ms/p90") - 90.1).abs() < 1e-9);
    }

    #[test]
    fn prometheus_names_are_sanitized() {
        let values: BTreeMap<String, f64> = [
            ("master/cpus_total".to_string(), 4.0),
            (
                "allocator/mesos/roles/web-1/shares/dominant".to_string(),
                0.5,
            ),
        ]
        .into_iter()
        .collect();
        let text = prometheus(&values);
        assert!(text.contains("master_cpus_total 4\n"), "{text}");
        assert!(text.contains("allocator_mesos_roles_web_1_shares_dominant 0.5\n"));
        assert!(text.contains("# TYPE master_cpus_total gauge\n"));
    }
}
