//! The host's CPU and memory, as registration reports them.
//!
//! Only reads `/proc/meminfo` and asks the standard library for the CPU count; parsing is a pure
//! function so tests feed it sample text.

use std::path::Path;

use super::ControlError;

/// Where the kernel reports memory.
pub const MEMINFO: &str = "/proc/meminfo";

/// CPU and memory of the host, before reservations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostResources {
    /// CPUs the agent may use (each is 1024 CPU units).
    pub cpus: u32,
    /// `MemTotal` in MiB.
    pub memory_mib: u64,
}

impl HostResources {
    /// From the text of `/proc/meminfo` (`MemTotal:  24684544 kB`) and a CPU count. `None` when
    /// there is no readable `MemTotal` line.
    pub fn from_meminfo(meminfo: &str, cpus: u32) -> Option<Self> {
        let line = meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
        let mut parts = line.split_whitespace();
        let value: u64 = parts.next()?.parse().ok()?;
        // The kernel always says kB (KiB); anything else is not a meminfo we understand.
        let kib = match parts.next() {
            Some("kB") => value,
            None => value / 1024,
            Some(_) => return None,
        };
        Some(Self {
            cpus,
            memory_mib: kib / 1024,
        })
    }

    /// CPU units offered to tasks: 1024 per CPU.
    pub fn cpu_units(&self) -> i64 {
        i64::from(self.cpus) * 1024
    }
}

/// This host's resources: `/proc/meminfo` and the available parallelism.
pub fn host_resources() -> Result<HostResources, ControlError> {
    let cpus = std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
        .unwrap_or(1);
    host_resources_from(Path::new(MEMINFO), cpus)
}

/// Resources from a meminfo file at `path` and a given CPU count (tests inject both).
pub fn host_resources_from(path: &Path, cpus: u32) -> Result<HostResources, ControlError> {
    let text = std::fs::read_to_string(path).map_err(|source| ControlError::HostResources {
        path: path.to_path_buf(),
        reason: source.to_string(),
    })?;
    HostResources::from_meminfo(&text, cpus).ok_or_else(|| ControlError::HostResources {
        path: path.to_path_buf(),
        reason: "no MemTotal line in kB".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "MemTotal:       24684000 kB\nMemFree:         1234567 kB\n\
                          MemAvailable:   20000000 kB\nBuffers:          100000 kB\n";

    #[test]
    fn mem_total_in_mib_and_cpu_units() {
        let r = HostResources::from_meminfo(SAMPLE, 2).unwrap();
        // 24684000 kB / 1024 = 24105.47: rounded down, as the reference agent does.
        assert_eq!(r.memory_mib, 24105);
        assert_eq!(r.cpu_units(), 2048);
    }

    #[test]
    fn missing_or_odd_mem_total_is_none() {
        assert_eq!(HostResources::from_meminfo("MemFree: 1 kB\n", 1), None);
        assert_eq!(HostResources::from_meminfo("MemTotal: x kB\n", 1), None);
        assert_eq!(HostResources::from_meminfo("MemTotal: 1 MB\n", 1), None);
    }

    #[test]
    fn reads_a_file_and_names_it_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meminfo");
        std::fs::write(&path, SAMPLE).unwrap();
        assert_eq!(host_resources_from(&path, 4).unwrap().cpus, 4);
        let err = host_resources_from(&dir.path().join("absent"), 1).unwrap_err();
        assert!(err.to_string().contains("absent"), "{err}");
    }

    #[test]
    fn this_host_has_some() {
        let r = host_resources().unwrap();
        assert!(r.cpus >= 1 && r.memory_mib > 0, "{r:?}");
    }
}
