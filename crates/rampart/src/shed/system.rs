//! CPU and memory usage read from the operating system, parsed with the standard
//! library only.
//!
//! On Linux, [`SystemUsage`] reads the process's cgroup v2 limits when it has them (a
//! container with `cpu.max` and `memory.max` set: usage is measured against the
//! container's share, which is what the OOM killer and the CPU throttle enforce), and
//! otherwise the machine's figures from `/proc/stat` and `/proc/meminfo`. CPU usage is
//! the share of busy time between two reads, so the first read after
//! [`SystemUsage::new`] already measures the time since construction.
//!
//! Anywhere else (another operating system, cgroup v1 limits, a file that cannot be
//! read or parsed) a figure it cannot read is 0: no pressure, so shedding falls back to
//! the load levels rather than shedding on a guess.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::pressure::{PressureSource, Usage};

/// Reads CPU and memory usage from Linux's `/proc` and cgroup v2 files.
///
/// It reads the process's cgroup v2 limits when it has them (a container with
/// `cpu.max` and `memory.max` set: usage is measured against the container's share,
/// which is what the OOM killer and the CPU throttle enforce), and otherwise the
/// machine's figures from `/proc/stat` and `/proc/meminfo`. CPU usage is the share of
/// busy time between two reads; the first read after construction measures the time
/// since then.
///
/// Anywhere else (another operating system, cgroup v1 limits, a file that cannot be
/// read or parsed) a figure it cannot read is 0: no pressure, so shedding falls back to
/// the load levels rather than shedding on a guess.
///
/// Each [`read`](PressureSource::read) opens a few small in-memory files; it runs where
/// the shedder samples (the caller's [`sample`](super::LoadShedder::sample) or the
/// background sampler), never on the admission path.
#[derive(Debug)]
pub struct SystemUsage {
    root: PathBuf,
    cgroup: Option<PathBuf>,
    last_stat: Option<CpuTimes>,
    last_cgroup: Option<(u64, Instant)>,
}

impl Default for SystemUsage {
    fn default() -> Self {
        Self::new()
    }
}

impl SystemUsage {
    /// Reads the running system's files; takes a first CPU reading now.
    pub fn new() -> Self {
        Self::with_root("/")
    }

    /// Reads the files under `root` instead of `/` (`root/proc/stat`,
    /// `root/sys/fs/cgroup/...`): for tests and for a host's `/proc` mounted elsewhere.
    pub fn with_root(root: impl AsRef<Path>) -> Self {
        let root = root.as_ref().to_path_buf();
        let cgroup = std::fs::read_to_string(root.join("proc/self/cgroup"))
            .ok()
            .and_then(|text| parse_cgroup_v2_path(&text))
            .map(|rel| root.join("sys/fs/cgroup").join(rel.trim_start_matches('/')));
        let mut usage = SystemUsage {
            root,
            cgroup,
            last_stat: None,
            last_cgroup: None,
        };
        let _ = usage.cpu();
        usage
    }

    /// CPU usage since the previous read, or `None` when nothing can be measured.
    fn cpu(&mut self) -> Option<f64> {
        if let Some(dir) = &self.cgroup {
            let cores = read_file(&dir.join("cpu.max")).and_then(|t| parse_cpu_max(&t));
            let used = read_file(&dir.join("cpu.stat")).and_then(|t| parse_cpu_stat_usec(&t));
            if let (Some(cores), Some(used)) = (cores, used) {
                let now = Instant::now();
                let prev = self.last_cgroup.replace((used, now));
                return prev.and_then(|(was, at)| {
                    let wall = u64::try_from(now.duration_since(at).as_micros()).ok()?;
                    cgroup_cpu_usage(was, used, wall, cores)
                });
            }
        }
        let now = parse_proc_stat(&read_file(&self.root.join("proc/stat"))?)?;
        let prev = self.last_stat.replace(now);
        prev.and_then(|p| cpu_usage(p, now))
    }

    /// Memory in use, against the cgroup's limit if it has one below the machine's.
    fn memory(&self) -> Option<f64> {
        let machine = read_file(&self.root.join("proc/meminfo"));
        let total = machine.as_deref().and_then(parse_meminfo);
        if let Some(dir) = &self.cgroup {
            let max = read_file(&dir.join("memory.max"));
            let current = read_file(&dir.join("memory.current"));
            if let (Some(max), Some(current)) = (max, current) {
                if let Some((used, limit)) = parse_cgroup_memory(&current, &max) {
                    let below_machine = total.is_none_or(|(_, bytes)| limit < bytes);
                    if below_machine {
                        return Some(used as f64 / limit as f64);
                    }
                }
            }
        }
        total.map(|(usage, _)| usage)
    }
}

impl PressureSource for SystemUsage {
    fn read(&mut self) -> Usage {
        Usage::new(self.cpu().unwrap_or(0.0), self.memory().unwrap_or(0.0)).clamped()
    }
}

fn read_file(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Cumulative CPU time from `/proc/stat`, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CpuTimes {
    pub(crate) busy: u64,
    pub(crate) total: u64,
}

/// The machine-wide `cpu` line of `/proc/stat`. Total is user, nice, system, idle,
/// iowait, irq, softirq and steal (guest time is already inside user); busy is total
/// less idle and iowait.
pub(crate) fn parse_proc_stat(text: &str) -> Option<CpuTimes> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    if fields.len() < 4 {
        return None;
    }
    let total = fields.iter().fold(0u64, |a, &b| a.saturating_add(b));
    let idle = fields[3].saturating_add(fields.get(4).copied().unwrap_or(0));
    Some(CpuTimes {
        busy: total.saturating_sub(idle),
        total,
    })
}

/// The busy share of the time between two `/proc/stat` readings.
pub(crate) fn cpu_usage(prev: CpuTimes, now: CpuTimes) -> Option<f64> {
    let total = now.total.checked_sub(prev.total).filter(|&t| t > 0)?;
    let busy = now.busy.saturating_sub(prev.busy).min(total);
    Some(busy as f64 / total as f64)
}

/// Memory in use from `/proc/meminfo` as (share, total bytes): `1 - MemAvailable /
/// MemTotal`, or with `MemFree + Buffers + Cached` on kernels without `MemAvailable`.
pub(crate) fn parse_meminfo(text: &str) -> Option<(f64, u64)> {
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        line[name.len()..]
            .trim_start_matches(':')
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let total = field("MemTotal").filter(|&t| t > 0)?;
    let available = field("MemAvailable").or_else(|| {
        Some(
            field("MemFree")?
                .saturating_add(field("Buffers").unwrap_or(0))
                .saturating_add(field("Cached").unwrap_or(0)),
        )
    })?;
    let used = total.saturating_sub(available.min(total));
    Some((used as f64 / total as f64, total.saturating_mul(1024)))
}

/// The cgroup v2 path of this process from `/proc/self/cgroup` (its `0::` line).
pub(crate) fn parse_cgroup_v2_path(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.trim().to_owned())
}

/// (bytes used, limit) from `memory.current` and `memory.max`; `None` without a limit.
pub(crate) fn parse_cgroup_memory(current: &str, max: &str) -> Option<(u64, u64)> {
    let limit: u64 = max.trim().parse().ok().filter(|&l| l > 0)?;
    let used: u64 = current.trim().parse().ok()?;
    Some((used, limit))
}

/// The CPUs a cgroup may use from `cpu.max` ("quota period"); `None` without a quota.
pub(crate) fn parse_cpu_max(text: &str) -> Option<f64> {
    let mut it = text.split_whitespace();
    let quota: u64 = it.next()?.parse().ok()?;
    let period: u64 = it.next()?.parse().ok().filter(|&p| p > 0)?;
    Some(quota as f64 / period as f64)
}

/// `usage_usec` from a cgroup's `cpu.stat`.
pub(crate) fn parse_cpu_stat_usec(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("usage_usec "))
        .and_then(|v| v.trim().parse().ok())
}

/// The share of a cgroup's CPU quota used between two readings `wall_usec` apart.
pub(crate) fn cgroup_cpu_usage(was: u64, now: u64, wall_usec: u64, cores: f64) -> Option<f64> {
    if wall_usec == 0 || cores <= 0.0 {
        return None;
    }
    let used = now.saturating_sub(was) as f64;
    Some((used / (wall_usec as f64 * cores)).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT_A: &str = "cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\nintr 5\n";
    const STAT_B: &str = "cpu  350 0 150 900 100 0 0 0 0 0\n";

    #[test]
    fn proc_stat_busy_share() {
        let a = parse_proc_stat(STAT_A).unwrap();
        assert_eq!(
            a,
            CpuTimes {
                busy: 200,
                total: 1000
            }
        );
        let b = parse_proc_stat(STAT_B).unwrap();
        assert_eq!(cpu_usage(a, b), Some(0.6));
        assert_eq!(cpu_usage(b, a), None);
        assert_eq!(parse_proc_stat("cpu0 1 2 3 4\n"), None);
        assert_eq!(parse_proc_stat("cpu  1 x 3 4\n"), None);
        assert_eq!(parse_proc_stat("cpu  1 2\n"), None);
    }

    #[test]
    fn meminfo_available_share() {
        let text = "MemTotal:       1000 kB\nMemFree:  100 kB\nMemAvailable:    250 kB\n";
        assert_eq!(parse_meminfo(text), Some((0.75, 1_024_000)));
        let old = "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 350 kB\n";
        assert_eq!(parse_meminfo(old), Some((0.5, 1_024_000)));
        assert_eq!(parse_meminfo("MemTotal: 0 kB\n"), None);
        assert_eq!(parse_meminfo(""), None);
    }

    #[test]
    fn cgroup_files() {
        assert_eq!(
            parse_cgroup_v2_path("4:memory:/x\n0::/kubepods/pod1\n"),
            Some("/kubepods/pod1".to_owned())
        );
        assert_eq!(parse_cgroup_v2_path("4:memory:/x\n"), None);
        assert_eq!(parse_cgroup_memory("512\n", "1024\n"), Some((512, 1024)));
        assert_eq!(parse_cgroup_memory("512\n", "max\n"), None);
        assert_eq!(parse_cpu_max("50000 100000\n"), Some(0.5));
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(
            parse_cpu_stat_usec("usage_usec 1234\nuser_usec 1\n"),
            Some(1234)
        );
        assert_eq!(cgroup_cpu_usage(0, 250_000, 1_000_000, 0.5), Some(0.5));
        assert_eq!(cgroup_cpu_usage(0, 9_000_000, 1_000_000, 0.5), Some(1.0));
        assert_eq!(cgroup_cpu_usage(0, 1, 0, 0.5), None);
    }

    fn fake_root(files: &[(&str, &str)]) -> PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rampart-shed-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        for (path, text) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    #[test]
    fn reads_proc_files_between_samples() {
        let root = fake_root(&[
            ("proc/stat", STAT_A),
            ("proc/meminfo", "MemTotal: 1000 kB\nMemAvailable: 100 kB\n"),
        ]);
        let mut usage = SystemUsage::with_root(&root);
        std::fs::write(root.join("proc/stat"), STAT_B).unwrap();
        assert_eq!(usage.read(), Usage::new(0.6, 0.9));
        // No time passed since: CPU cannot be measured and reads 0.
        assert_eq!(usage.read().cpu, 0.0);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn prefers_a_cgroup_memory_limit_below_the_machine() {
        let root = fake_root(&[
            ("proc/self/cgroup", "0::/app\n"),
            (
                "proc/meminfo",
                "MemTotal: 1000000 kB\nMemAvailable: 900000 kB\n",
            ),
            ("sys/fs/cgroup/app/memory.max", "1000\n"),
            ("sys/fs/cgroup/app/memory.current", "800\n"),
        ]);
        let mut usage = SystemUsage::with_root(&root);
        assert_eq!(usage.read().memory, 0.8);
        std::fs::write(root.join("sys/fs/cgroup/app/memory.max"), "max\n").unwrap();
        assert!((usage.read().memory - 0.1).abs() < 1e-9);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn reads_a_cgroup_cpu_quota_between_samples() {
        // One core of quota. The cgroup used far more than the wall time between the
        // two reads could hold: a full core. Then nothing more: idle.
        let root = fake_root(&[
            (
                "proc/self/cgroup",
                "0::/app
",
            ),
            ("proc/stat", STAT_A),
            (
                "sys/fs/cgroup/app/cpu.max",
                "100000 100000
",
            ),
            (
                "sys/fs/cgroup/app/cpu.stat",
                "usage_usec 0
user_usec 0
",
            ),
        ]);
        let mut usage = SystemUsage::with_root(&root);
        let stat = root.join("sys/fs/cgroup/app/cpu.stat");
        std::fs::write(
            &stat,
            "usage_usec 1000000000000
",
        )
        .unwrap();
        // The share is taken over the wall time between reads: let some pass.
        let start = Instant::now();
        while start.elapsed() < std::time::Duration::from_micros(50) {
            std::hint::spin_loop();
        }
        assert_eq!(usage.read().cpu, 1.0);
        while start.elapsed() < std::time::Duration::from_micros(100) {
            std::hint::spin_loop();
        }
        assert_eq!(usage.read().cpu, 0.0);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn missing_files_read_as_no_pressure() {
        let mut usage = SystemUsage::with_root("/nonexistent/rampart");
        assert_eq!(usage.read(), Usage::default());
    }

    #[test]
    fn the_real_system_reads_within_range() {
        let mut usage = SystemUsage::new();
        let u = usage.read();
        assert!((0.0..=1.0).contains(&u.cpu) && (0.0..=1.0).contains(&u.memory));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_real_system_sees_the_cpu_this_test_burns() {
        // Work, not sleep, until the operating system's counters show it (they move in
        // clock ticks of a few milliseconds): the reading then is above zero.
        let mut usage = SystemUsage::new();
        let start = Instant::now();
        let mut sum = 0u64;
        loop {
            let burst = Instant::now();
            while burst.elapsed() < std::time::Duration::from_millis(20) {
                sum = std::hint::black_box(sum.wrapping_add(1));
            }
            let u = usage.read();
            assert!((0.0..=1.0).contains(&u.cpu), "{u:?}");
            if u.cpu > 0.0 {
                assert!(u.memory > 0.0, "{u:?}");
                break;
            }
            assert!(start.elapsed().as_secs() < 30, "no CPU use seen");
        }
    }
}
