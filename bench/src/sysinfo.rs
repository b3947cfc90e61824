//! What the benchmark reports about the machine and the measured process, read from `/proc`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Resident memory of a process, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rss {
    /// `VmRSS`: resident now, KiB.
    pub current_kib: u64,
    /// `VmHWM`: the peak resident size so far, KiB.
    pub peak_kib: u64,
}

/// Reads the resident memory of `pid`; `None` when the process or the fields are gone.
pub fn rss(pid: u32) -> Option<Rss> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_rss(&status)
}

fn parse_rss(status: &str) -> Option<Rss> {
    let field = |name: &str| {
        status.lines().find_map(|l| {
            l.strip_prefix(name)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
    };
    Some(Rss {
        current_kib: field("VmRSS:")?,
        peak_kib: field("VmHWM:")?,
    })
}

/// The CPU model and the number of CPUs this process may run on.
pub fn cpu() -> (String, usize) {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    (model, cpus)
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` shows them.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

/// The file system type and device that `path` lives on (longest mount point that prefixes it),
/// e.g. `("ext4", "/dev/vda")`: fsync costs depend on it, and tmpfs would make them vanish.
pub fn filesystem_of(path: &Path) -> Option<(String, String)> {
    let path = path.canonicalize().ok()?;
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (dev, mnt, fs) = (f.next()?, f.next()?, f.next()?);
            path.starts_with(mnt)
                .then(|| (mnt.len(), fs.to_string(), dev.to_string()))
        })
        .max_by_key(|(len, _, _)| *len)
        .map(|(_, fs, dev)| (fs, dev))
}

/// User + system CPU time of `pid` so far, from `/proc/<pid>/stat` (all threads).
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let hz = clock_ticks_per_sec()?;
    Some(Duration::from_secs_f64(ticks as f64 / hz as f64))
}

fn clock_ticks_per_sec() -> Option<u64> {
    static HZ: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *HZ.get_or_init(|| {
        let out = Command::new("getconf").arg("CLK_TCK").output().ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rss_and_peak_from_a_status_file() {
        let status =
            "Name:\tecs-control-pl\nVmPeak:\t  100 kB\nVmHWM:\t    9000 kB\nVmRSS:\t    8192 kB\n";
        assert_eq!(
            parse_rss(status),
            Some(Rss {
                current_kib: 8192,
                peak_kib: 9000
            })
        );
        assert_eq!(parse_rss("Name:\tx\n"), None);
    }

    #[test]
    fn own_process_has_a_resident_size() {
        let own = rss(std::process::id()).unwrap();
        assert!(own.current_kib > 0 && own.peak_kib >= own.current_kib);
    }
}
