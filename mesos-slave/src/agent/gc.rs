//! Sandbox garbage collection, as Mesos's agent does it: the directories
//! of ended executor runs, executors and frameworks are scheduled for
//! removal `--gc_delay` after they were last modified; every
//! `--disk_watch_interval` the work directory's disk usage shortens that
//! to `gc_delay * max(0, 1 - gc_disk_headroom - usage)` and what is older
//! is removed at once.
//!
//! [`GarbageCollector`] is the schedule alone, with time as an argument;
//! the runtime stats the paths, removes them and counts the outcomes
//! (`gc/path_removals_succeeded`, `gc/path_removals_failed`,
//! `gc/path_removals_pending`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The removal schedule.
#[derive(Debug, Default)]
pub struct GarbageCollector {
    /// The paths due at each removal time.
    by_time: BTreeMap<Instant, BTreeSet<PathBuf>>,
    /// When each scheduled path is due.
    due_at: HashMap<PathBuf, Instant>,
}

/// How long from now a directory last modified `age` ago is removed:
/// `gc_delay` after its modification, at once if that has passed.
pub fn delay_for(gc_delay: Duration, age: Duration) -> Duration {
    gc_delay.saturating_sub(age)
}

/// The oldest a directory may be at disk usage `usage` (a fraction of
/// the disk in use): `gc_delay * max(0, 1 - gc_disk_headroom - usage)`.
pub fn max_allowed_age(gc_delay: Duration, gc_disk_headroom: f64, usage: f64) -> Duration {
    let factor = (1.0 - gc_disk_headroom - usage).max(0.0);
    if !factor.is_finite() {
        return Duration::ZERO;
    }
    gc_delay.mul_f64(factor.min(1.0))
}

impl GarbageCollector {
    /// Nothing scheduled.
    pub fn new() -> GarbageCollector {
        GarbageCollector::default()
    }

    /// Schedules `path` for removal `delay` after `now`, replacing an
    /// earlier schedule of it.
    pub fn schedule(&mut self, path: PathBuf, delay: Duration, now: Instant) {
        self.unschedule(&path);
        let at = now + delay;
        self.by_time.entry(at).or_default().insert(path.clone());
        self.due_at.insert(path, at);
    }

    /// Takes `path` off the schedule (a new executor or task reuses it);
    /// whether it was on it.
    pub fn unschedule(&mut self, path: &Path) -> bool {
        let Some(at) = self.due_at.remove(path) else {
            return false;
        };
        if let Some(paths) = self.by_time.get_mut(&at) {
            paths.remove(path);
            if paths.is_empty() {
                self.by_time.remove(&at);
            }
        }
        true
    }

    /// How many paths are scheduled.
    pub fn len(&self) -> usize {
        self.due_at.len()
    }

    /// Whether nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.due_at.is_empty()
    }

    /// When the next removal is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.by_time.keys().next().copied()
    }

    /// Takes the paths due by `now` off the schedule, earliest first:
    /// the runtime removes them.
    pub fn take_due(&mut self, now: Instant) -> Vec<PathBuf> {
        self.take_until(now)
    }

    /// Takes the paths due within `within` of `now` (the disk watch's
    /// pruning: those older than the allowed age), earliest first.
    pub fn prune(&mut self, within: Duration, now: Instant) -> Vec<PathBuf> {
        self.take_until(now + within)
    }

    fn take_until(&mut self, until: Instant) -> Vec<PathBuf> {
        let later = self.by_time.split_off(&(until + Duration::from_nanos(1)));
        let due = std::mem::replace(&mut self.by_time, later);
        let mut paths = Vec::new();
        for (_, batch) in due {
            for path in batch {
                self.due_at.remove(&path);
                paths.push(path);
            }
        }
        paths
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn paths_fall_due_after_their_delay() {
        let t0 = Instant::now();
        let mut gc = GarbageCollector::new();
        gc.schedule("/w/a".into(), HOUR, t0);
        gc.schedule("/w/b".into(), 2 * HOUR, t0);
        assert_eq!(gc.len(), 2);
        assert_eq!(gc.next_deadline(), Some(t0 + HOUR));
        assert!(gc.take_due(t0 + HOUR - Duration::from_secs(1)).is_empty());
        assert_eq!(gc.take_due(t0 + HOUR), vec![PathBuf::from("/w/a")]);
        assert_eq!(gc.next_deadline(), Some(t0 + 2 * HOUR));
        assert_eq!(gc.take_due(t0 + 3 * HOUR), vec![PathBuf::from("/w/b")]);
        assert!(gc.is_empty());
        assert_eq!(gc.next_deadline(), None);
    }

    #[test]
    fn rescheduling_and_unscheduling() {
        let t0 = Instant::now();
        let mut gc = GarbageCollector::new();
        gc.schedule("/w/a".into(), HOUR, t0);
        gc.schedule("/w/a".into(), 2 * HOUR, t0);
        assert_eq!(gc.len(), 1);
        assert!(gc.take_due(t0 + HOUR).is_empty());
        assert!(gc.unschedule(Path::new("/w/a")));
        assert!(!gc.unschedule(Path::new("/w/a")));
        assert!(gc.take_due(t0 + 3 * HOUR).is_empty());
        assert_eq!(gc.next_deadline(), None);
    }

    #[test]
    fn pruning_takes_what_is_due_within_the_window() {
        let t0 = Instant::now();
        let mut gc = GarbageCollector::new();
        gc.schedule("/w/old".into(), HOUR, t0);
        gc.schedule("/w/new".into(), 10 * HOUR, t0);
        assert_eq!(gc.prune(2 * HOUR, t0), vec![PathBuf::from("/w/old")]);
        assert_eq!(gc.len(), 1);
    }

    #[test]
    fn delays_follow_mesos() {
        let week = 7 * 24 * HOUR;
        // Scheduled gc_delay after the last modification.
        assert_eq!(delay_for(week, HOUR), week - HOUR);
        assert_eq!(delay_for(HOUR, 2 * HOUR), Duration::ZERO);
        // An empty disk: 90% of gc_delay with the default headroom.
        assert_eq!(max_allowed_age(week, 0.1, 0.0), week.mul_f64(0.9));
        assert_eq!(max_allowed_age(week, 0.1, 0.5), week.mul_f64(0.4));
        // Past the headroom: everything goes.
        assert_eq!(max_allowed_age(week, 0.1, 0.95), Duration::ZERO);
        assert_eq!(max_allowed_age(week, 0.0, 1.0), Duration::ZERO);
    }

    #[test]
    fn disk_watch_prunes_what_is_older_than_allowed() {
        // Mesos prunes within gc_delay - max_allowed_age: the paths at
        // least max_allowed_age old.
        let t0 = Instant::now();
        let gc_delay = 100 * HOUR;
        let mut gc = GarbageCollector::new();
        // Modified 70 and 20 hours ago.
        gc.schedule("/w/70h".into(), delay_for(gc_delay, 70 * HOUR), t0);
        gc.schedule("/w/20h".into(), delay_for(gc_delay, 20 * HOUR), t0);
        // 40% used, 10% headroom: at most 50 hours old.
        let age = max_allowed_age(gc_delay, 0.1, 0.4);
        assert_eq!(age, 50 * HOUR);
        assert_eq!(gc.prune(gc_delay - age, t0), vec![PathBuf::from("/w/70h")]);
        assert_eq!(gc.len(), 1);
    }
}
