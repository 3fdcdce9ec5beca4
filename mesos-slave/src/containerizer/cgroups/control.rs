//! The control files of a container's cgroups: limits from its resources
//! (Mesos's numbers), OOM counters, and usage.

use std::collections::BTreeMap;
use std::path::Path;

use super::{CgroupsError, ContainerCgroups, Version, io_error};
use crate::containerizer::ContainerLimits;

/// `cpu.shares` per cpu (v1).
const CPU_SHARES_PER_CPU: f64 = 1024.0;
/// The least `cpu.shares` the kernel takes.
const MIN_CPU_SHARES: u64 = 2;
/// `cpu.weight` per cpu (v2), as Mesos's cgroups2 isolator sets it.
const CPU_WEIGHT_PER_CPU: f64 = 100.0;
/// The least and most `cpu.weight` the kernel takes.
const MIN_CPU_WEIGHT: u64 = 1;
const MAX_CPU_WEIGHT: u64 = 10_000;
/// The CFS period, in microseconds (the Linux default, 100 ms).
const CPU_CFS_PERIOD_US: u64 = 100_000;
/// The least CFS quota Mesos sets, in microseconds (1 ms).
const MIN_CPU_CFS_QUOTA_US: u64 = 1_000;
/// The least memory limit Mesos sets (32 MB).
const MIN_MEMORY: u64 = 32 * 1024 * 1024;

const MB: u64 = 1024 * 1024;

/// A byte count as stout prints it: in the largest unit that loses
/// nothing (`96MB`, `1536KB`, `100B`).
pub fn format_bytes(bytes: u64) -> String {
    const KB: u64 = 1024;
    const GB: u64 = 1024 * MB;
    const TB: u64 = 1024 * GB;
    if bytes == 0 || bytes % KB != 0 {
        format!("{bytes}B")
    } else if bytes % MB != 0 {
        format!("{}KB", bytes / KB)
    } else if bytes % GB != 0 {
        format!("{}MB", bytes / MB)
    } else if bytes % TB != 0 {
        format!("{}GB", bytes / GB)
    } else {
        format!("{}TB", bytes / TB)
    }
}

fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupsError> {
    let path = dir.join(file);
    std::fs::write(&path, value).map_err(|e| io_error(&path, e))
}

fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file)).ok()
}

/// `key value` lines (`memory.stat`, `cpu.stat`, `memory.events`).
fn flat_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(' ')?;
            Some((key.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

fn read_u64(dir: &Path, file: &str) -> Option<u64> {
    read(dir, file)?.trim().parse().ok()
}

/// What a container used, for `/monitor/statistics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// CPU time in user mode.
    pub cpus_user_time_secs: Option<f64>,
    /// CPU time in kernel mode.
    pub cpus_system_time_secs: Option<f64>,
    /// CFS periods elapsed, periods throttled, time throttled.
    pub cpus_nr_periods: Option<u64>,
    /// See `cpus_nr_periods`.
    pub cpus_nr_throttled: Option<u64>,
    /// See `cpus_nr_periods`.
    pub cpus_throttled_time_secs: Option<f64>,
    /// Memory charged in total.
    pub mem_total_bytes: Option<u64>,
    /// Anonymous memory (resident).
    pub mem_rss_bytes: Option<u64>,
    /// Page cache.
    pub mem_cache_bytes: Option<u64>,
    /// Swap in use.
    pub mem_swap_bytes: Option<u64>,
    /// The hard limit.
    pub mem_limit_bytes: Option<u64>,
    /// How many processes are in the container.
    pub processes: Option<u64>,
}

impl ContainerCgroups {
    /// Writes the limits of `limits` into the control files, as Mesos's
    /// isolators compute them.
    pub fn update(&mut self, limits: &ContainerLimits) -> Result<(), CgroupsError> {
        if let (Some(dir), Some(cpus)) = (self.cpu.clone(), limits.cpus) {
            self.update_cpu(&dir, cpus, limits.cpus_limit)?;
        }
        if let (Some(dir), Some(mem)) = (self.memory.clone(), limits.mem) {
            self.update_memory(&dir, mem, limits.mem_limit)?;
        }
        Ok(())
    }

    fn update_cpu(&self, dir: &Path, cpus: f64, limit: Option<f64>) -> Result<(), CgroupsError> {
        let quota = match limit {
            Some(limit) if limit.is_infinite() => Some(None),
            Some(limit) => Some(Some(limit)),
            None if self.enable_cfs => Some(Some(cpus)),
            None => None,
        };
        let quota_us =
            |cpus: f64| ((CPU_CFS_PERIOD_US as f64 * cpus) as u64).max(MIN_CPU_CFS_QUOTA_US);
        match self.version {
            Version::V1 => {
                let shares = ((CPU_SHARES_PER_CPU * cpus) as u64).max(MIN_CPU_SHARES);
                write(dir, "cpu.shares", &shares.to_string())?;
                tracing::info!(
                    container_id = self.container_id,
                    "Updated 'cpu.shares' to {shares} (cpus {cpus})"
                );
                if let Some(quota) = quota {
                    write(dir, "cpu.cfs_period_us", &CPU_CFS_PERIOD_US.to_string())?;
                    let value = quota.map_or("-1".to_string(), |q| quota_us(q).to_string());
                    write(dir, "cpu.cfs_quota_us", &value)?;
                    tracing::info!(
                        container_id = self.container_id,
                        "Updated 'cpu.cfs_period_us' to {CPU_CFS_PERIOD_US} and \
                         'cpu.cfs_quota_us' to {value}"
                    );
                }
            }
            Version::V2 => {
                let weight =
                    ((CPU_WEIGHT_PER_CPU * cpus) as u64).clamp(MIN_CPU_WEIGHT, MAX_CPU_WEIGHT);
                write(dir, "cpu.weight", &weight.to_string())?;
                let max = match quota {
                    Some(Some(q)) => format!("{} {CPU_CFS_PERIOD_US}", quota_us(q)),
                    _ => format!("max {CPU_CFS_PERIOD_US}"),
                };
                write(dir, "cpu.max", &max)?;
                tracing::info!(
                    container_id = self.container_id,
                    "Updated 'cpu.weight' to {weight} and 'cpu.max' to '{max}' (cpus {cpus})"
                );
            }
        }
        Ok(())
    }

    fn update_memory(
        &mut self,
        dir: &Path,
        mem_mb: f64,
        limit_mb: Option<f64>,
    ) -> Result<(), CgroupsError> {
        let soft = ((mem_mb * MB as f64) as u64).max(MIN_MEMORY);
        // None: unlimited.
        let hard = match limit_mb {
            Some(limit) if limit.is_infinite() => None,
            Some(limit) => Some(((limit * MB as f64) as u64).max(MIN_MEMORY)),
            None => Some(soft),
        };
        match self.version {
            Version::V1 => {
                write(dir, "memory.soft_limit_in_bytes", &soft.to_string())?;
                let current = read_u64(dir, "memory.limit_in_bytes").unwrap_or(u64::MAX);
                let value = hard.map_or("-1".to_string(), |h| h.to_string());
                // Only set the hard limit the first time or to raise it:
                // lowering it under the usage would OOM the container.
                let raise = hard.is_none_or(|h| h > current);
                if !self.hard_limit_set || raise {
                    let memsw = self.limit_swap;
                    if self.hard_limit_set && memsw {
                        // Raising: memsw first, it must stay >= the limit.
                        write(dir, "memory.memsw.limit_in_bytes", &value)?;
                        write(dir, "memory.limit_in_bytes", &value)?;
                    } else {
                        write(dir, "memory.limit_in_bytes", &value)?;
                        if memsw {
                            write(dir, "memory.memsw.limit_in_bytes", &value)?;
                        }
                    }
                    self.hard_limit_set = true;
                    tracing::info!(
                        container_id = self.container_id,
                        "Updated 'memory.limit_in_bytes' to {}",
                        hard.map_or("-1".to_string(), format_bytes)
                    );
                }
            }
            Version::V2 => {
                write(dir, "memory.low", &soft.to_string())?;
                let value = hard.map_or("max".to_string(), |h| h.to_string());
                let current = read(dir, "memory.max")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(u64::MAX);
                if !self.hard_limit_set || hard.is_none_or(|h| h > current) {
                    write(dir, "memory.max", &value)?;
                    if self.limit_swap && dir.join("memory.swap.max").exists() {
                        write(dir, "memory.swap.max", "0")?;
                    }
                    self.hard_limit_set = true;
                    tracing::info!(
                        container_id = self.container_id,
                        "Updated 'memory.max' to {value}"
                    );
                }
            }
        }
        Ok(())
    }

    /// How many processes the kernel's OOM killer has killed in the
    /// container (`oom_kill` of `memory.oom_control` or `memory.events`);
    /// `None` without `cgroups/mem`.
    pub fn oom_kills(&self) -> Option<u64> {
        let dir = self.memory.as_ref()?;
        let file = match self.version {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        let values = flat_keyed(&read(dir, file)?);
        match self.version {
            // Kernels before 4.13 have no counter; `under_oom` still says.
            Version::V1 => values
                .get("oom_kill")
                .copied()
                .or_else(|| values.get("under_oom").copied()),
            Version::V2 => values.get("oom_kill").copied(),
        }
    }

    /// Mesos's message for a container its memory limit ended, and the
    /// memory (in MB) it reached: `Memory limit exceeded: Requested: 96MB
    /// Maximum Used: 96MB` and the cgroup's `memory.stat`.
    pub fn oom_message(&self) -> (String, f64) {
        let Some(dir) = &self.memory else {
            return ("Memory limit exceeded".into(), 0.0);
        };
        let (limit, peak, stat) = match self.version {
            Version::V1 => (
                read_u64(dir, "memory.limit_in_bytes"),
                read_u64(dir, "memory.max_usage_in_bytes"),
                read(dir, "memory.stat"),
            ),
            Version::V2 => (
                read_u64(dir, "memory.max"),
                read_u64(dir, "memory.peak").or_else(|| read_u64(dir, "memory.max")),
                read(dir, "memory.stat"),
            ),
        };
        let mut message = String::from("Memory limit exceeded: ");
        if let Some(limit) = limit {
            message.push_str(&format!("Requested: {} ", format_bytes(limit)));
        }
        if let Some(peak) = peak {
            message.push_str(&format!("Maximum Used: {}\n", format_bytes(peak)));
        }
        if let Some(stat) = stat {
            message.push_str(&format!("\nMEMORY STATISTICS: \n{stat}\n"));
        }
        let used = peak.or(limit).unwrap_or(0) as f64 / MB as f64;
        (message, used)
    }

    /// What the container has used so far.
    pub fn usage(&self) -> Usage {
        let mut usage = Usage {
            processes: Some(self.processes().len() as u64),
            ..Usage::default()
        };
        match self.version {
            Version::V1 => {
                if let Some(dir) = &self.cpuacct {
                    if let Some(stat) = read(dir, "cpuacct.stat") {
                        let values = flat_keyed(&stat);
                        // SAFETY: sysconf has no memory-safety preconditions.
                        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
                        usage.cpus_user_time_secs = values.get("user").map(|t| *t as f64 / ticks);
                        usage.cpus_system_time_secs =
                            values.get("system").map(|t| *t as f64 / ticks);
                    }
                }
                if let Some(dir) = &self.cpu {
                    if self.enable_cfs {
                        if let Some(stat) = read(dir, "cpu.stat") {
                            let values = flat_keyed(&stat);
                            usage.cpus_nr_periods = values.get("nr_periods").copied();
                            usage.cpus_nr_throttled = values.get("nr_throttled").copied();
                            usage.cpus_throttled_time_secs =
                                values.get("throttled_time").map(|n| *n as f64 / 1e9);
                        }
                    }
                }
                if let Some(dir) = &self.memory {
                    usage.mem_total_bytes = read_u64(dir, "memory.usage_in_bytes");
                    usage.mem_limit_bytes = read_u64(dir, "memory.limit_in_bytes");
                    if let Some(stat) = read(dir, "memory.stat") {
                        let values = flat_keyed(&stat);
                        usage.mem_rss_bytes = values.get("total_rss").copied();
                        usage.mem_cache_bytes = values.get("total_cache").copied();
                        usage.mem_swap_bytes = values.get("total_swap").copied();
                    }
                }
            }
            Version::V2 => {
                if let Some(dir) = &self.cpuacct {
                    if let Some(stat) = read(dir, "cpu.stat") {
                        let values = flat_keyed(&stat);
                        usage.cpus_user_time_secs =
                            values.get("user_usec").map(|u| *u as f64 / 1e6);
                        usage.cpus_system_time_secs =
                            values.get("system_usec").map(|u| *u as f64 / 1e6);
                        usage.cpus_nr_periods = values.get("nr_periods").copied();
                        usage.cpus_nr_throttled = values.get("nr_throttled").copied();
                        usage.cpus_throttled_time_secs =
                            values.get("throttled_usec").map(|u| *u as f64 / 1e6);
                    }
                }
                if let Some(dir) = &self.memory {
                    usage.mem_total_bytes = read_u64(dir, "memory.current");
                    usage.mem_limit_bytes = read_u64(dir, "memory.max");
                    if let Some(stat) = read(dir, "memory.stat") {
                        let values = flat_keyed(&stat);
                        usage.mem_rss_bytes = values.get("anon").copied();
                        usage.mem_cache_bytes = values.get("file").copied();
                    }
                    usage.mem_swap_bytes = read_u64(dir, "memory.swap.current");
                }
            }
        }
        usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_print_as_stout_prints_them() {
        assert_eq!(format_bytes(0), "0B");
        assert_eq!(format_bytes(100), "100B");
        assert_eq!(format_bytes(1536 * 1024), "1536KB");
        assert_eq!(format_bytes(96 * MB), "96MB");
        assert_eq!(format_bytes(2048 * MB), "2GB");
    }

    #[test]
    fn flat_keyed_files_parse() {
        let values = flat_keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
        assert_eq!(values["oom_kill"], 3);
        assert_eq!(values.len(), 3);
    }
}
