//! One Docker stats sample (`GET /containers/{id}/stats` JSON) reduced to the cumulative
//! counters the metrics need. Pure: parsed from JSON, unit-tested without Docker.
//!
//! The reductions are the reference's (`agent/stats/utils*.go`): CPU is the container's total
//! CPU time divided by the instance's CPU count; memory is usage minus the page cache (`cache`
//! on cgroup v1, `inactive_file` on v2, when smaller than the usage); network counters are
//! summed over the container's interfaces (none when Docker reports no `networks`, as in host
//! mode); block I/O sums the `Read` and `Write` entries of `io_service_bytes_recursive`.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

/// Why a Docker stats document is not a usable sample.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SampleError {
    /// Not Docker's stats shape.
    #[error("not a Docker stats document: {0}")]
    Shape(String),
    /// `read` is missing, zero (Docker's answer for a stopped container) or not RFC 3339.
    #[error("the stats sample has no read time ({0:?})")]
    NoReadTime(String),
    /// No CPU usage: the container is not running.
    #[error("the stats sample has no CPU usage")]
    NoCpu,
}

/// Network counters of one sample, summed over the interfaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NetCounters {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_dropped: u64,
    pub rx_errors: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_dropped: u64,
    pub tx_errors: u64,
}

/// One sample's cumulative counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawSample {
    /// When Docker read it, nanoseconds since the epoch.
    pub read_ns: i128,
    /// Total CPU time of the container divided by the instance's CPU count, nanoseconds.
    pub cpu_ns: u64,
    /// Memory in use, bytes, page cache excluded.
    pub memory_bytes: u64,
    /// `None` when Docker reports no networks (host or none network mode).
    pub network: Option<NetCounters>,
    pub storage_read_bytes: u64,
    pub storage_write_bytes: u64,
}

#[derive(Debug, Deserialize)]
struct DockerStats {
    read: Option<String>,
    cpu_stats: Option<CpuStats>,
    memory_stats: Option<MemoryStats>,
    networks: Option<HashMap<String, NetworkStats>>,
    blkio_stats: Option<BlkioStats>,
}

#[derive(Debug, Deserialize)]
struct CpuStats {
    cpu_usage: Option<CpuUsage>,
}

#[derive(Debug, Deserialize)]
struct CpuUsage {
    total_usage: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct MemoryStats {
    usage: Option<u64>,
    /// cgroup counters; values may be null in bollard's rendering.
    stats: Option<HashMap<String, Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NetworkStats {
    rx_bytes: Option<u64>,
    rx_packets: Option<u64>,
    rx_dropped: Option<u64>,
    rx_errors: Option<u64>,
    tx_bytes: Option<u64>,
    tx_packets: Option<u64>,
    tx_dropped: Option<u64>,
    tx_errors: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct BlkioStats {
    io_service_bytes_recursive: Option<Vec<BlkioEntry>>,
}

#[derive(Debug, Deserialize)]
struct BlkioEntry {
    op: Option<String>,
    value: Option<u64>,
}

/// Docker's zero time, the `read` of a sample of a stopped container.
const ZERO_TIME_PREFIX: &str = "0001-01-01";

/// Reduces one Docker stats document; `cpus` is the instance's CPU count (at least 1).
pub fn parse(stats: &Value, cpus: u64) -> Result<RawSample, SampleError> {
    let s = DockerStats::deserialize(stats).map_err(|e| SampleError::Shape(e.to_string()))?;
    let read = s.read.unwrap_or_default();
    if read.starts_with(ZERO_TIME_PREFIX) {
        return Err(SampleError::NoReadTime(read));
    }
    let read_ns =
        time::OffsetDateTime::parse(&read, &time::format_description::well_known::Rfc3339)
            .map_err(|_| SampleError::NoReadTime(read.clone()))?
            .unix_timestamp_nanos();
    let total = s
        .cpu_stats
        .and_then(|c| c.cpu_usage)
        .and_then(|u| u.total_usage)
        .ok_or(SampleError::NoCpu)?;
    let memory_bytes = s.memory_stats.map_or(0, |m| memory_in_use(&m));
    let network = s.networks.map(|nets| {
        nets.values().fold(NetCounters::default(), |mut sum, n| {
            let add = |acc: &mut u64, v: Option<u64>| *acc = acc.wrapping_add(v.unwrap_or(0));
            add(&mut sum.rx_bytes, n.rx_bytes);
            add(&mut sum.rx_packets, n.rx_packets);
            add(&mut sum.rx_dropped, n.rx_dropped);
            add(&mut sum.rx_errors, n.rx_errors);
            add(&mut sum.tx_bytes, n.tx_bytes);
            add(&mut sum.tx_packets, n.tx_packets);
            add(&mut sum.tx_dropped, n.tx_dropped);
            add(&mut sum.tx_errors, n.tx_errors);
            sum
        })
    });
    let (mut storage_read_bytes, mut storage_write_bytes) = (0_u64, 0_u64);
    for entry in s
        .blkio_stats
        .and_then(|b| b.io_service_bytes_recursive)
        .unwrap_or_default()
    {
        let value = entry.value.unwrap_or(0);
        match entry.op.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => storage_read_bytes = storage_read_bytes.wrapping_add(value),
            Some("write") => storage_write_bytes = storage_write_bytes.wrapping_add(value),
            _ => {}
        }
    }
    Ok(RawSample {
        read_ns,
        cpu_ns: total / cpus.max(1),
        memory_bytes,
        network,
        storage_read_bytes,
        storage_write_bytes,
    })
}

/// Usage minus the page cache: `cache` on cgroup v1 (where it exists), `inactive_file` on v2;
/// the usage as is when the cache is not smaller.
fn memory_in_use(m: &MemoryStats) -> u64 {
    let usage = m.usage.unwrap_or(0);
    let counter = |name: &str| {
        m.stats
            .as_ref()
            .and_then(|s| s.get(name))
            .and_then(Value::as_u64)
    };
    let cache = counter("cache").or_else(|| counter("inactive_file"));
    match cache {
        Some(cache) if cache < usage => usage - cache,
        _ => usage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn docker(read: &str, total: u64) -> Value {
        json!({
            "read": read,
            "cpu_stats": {"cpu_usage": {"total_usage": total}, "online_cpus": 2},
            "memory_stats": {"usage": 50 << 20, "stats": {"cache": 10 << 20, "rss": 1}},
            "networks": {
                "eth0": {"rx_bytes": 100, "rx_packets": 2, "rx_dropped": 0, "rx_errors": 1,
                         "tx_bytes": 40, "tx_packets": 1, "tx_dropped": 0, "tx_errors": 0},
                "eth1": {"rx_bytes": 1, "rx_packets": 1, "rx_dropped": 3, "rx_errors": 0,
                         "tx_bytes": 2, "tx_packets": 1, "tx_dropped": 0, "tx_errors": 5}
            },
            "blkio_stats": {"io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "Read", "value": 4096},
                {"major": 8, "minor": 0, "op": "Write", "value": 512},
                {"major": 8, "minor": 0, "op": "Total", "value": 4608},
                {"major": 8, "minor": 16, "op": "read", "value": 4}
            ]}
        })
    }

    #[test]
    fn a_sample_reduces_as_the_reference_reduces_it() {
        let s = parse(&docker("2026-12-07T11:00:00.5Z", 3_000), 2).unwrap();
        assert_eq!(s.read_ns, 1_796_641_200_500_000_000);
        assert_eq!(s.cpu_ns, 1_500);
        assert_eq!(s.memory_bytes, 40 << 20);
        let n = s.network.unwrap();
        assert_eq!(
            (n.rx_bytes, n.rx_packets, n.rx_dropped, n.rx_errors),
            (101, 3, 3, 1)
        );
        assert_eq!(
            (n.tx_bytes, n.tx_packets, n.tx_dropped, n.tx_errors),
            (42, 2, 0, 5)
        );
        assert_eq!((s.storage_read_bytes, s.storage_write_bytes), (4100, 512));
    }

    #[test]
    fn memory_on_cgroup_v2_subtracts_inactive_file_and_never_goes_negative() {
        let m = |usage: u64, stats: Value| MemoryStats {
            usage: Some(usage),
            stats: serde_json::from_value(stats).unwrap(),
        };
        assert_eq!(
            memory_in_use(&m(100, json!({"inactive_file": 30, "anon": 70}))),
            70
        );
        assert_eq!(memory_in_use(&m(100, json!({"inactive_file": 300}))), 100);
        assert_eq!(memory_in_use(&m(100, json!({"cache": null}))), 100);
        assert_eq!(
            memory_in_use(&m(100, json!({"cache": 20, "inactive_file": 1}))),
            80
        );
    }

    #[test]
    fn host_mode_has_no_network_and_a_stopped_container_is_no_sample() {
        let mut d = docker("2026-12-07T11:00:00Z", 1);
        d["networks"] = Value::Null;
        d["blkio_stats"] = json!({"io_service_bytes_recursive": null});
        let s = parse(&d, 1).unwrap();
        assert_eq!(s.network, None);
        assert_eq!((s.storage_read_bytes, s.storage_write_bytes), (0, 0));
        assert!(matches!(
            parse(&docker("0001-01-01T00:00:00Z", 1), 1),
            Err(SampleError::NoReadTime(_))
        ));
        let mut no_cpu = docker("2026-12-07T11:00:00Z", 1);
        no_cpu["cpu_stats"] = json!({});
        assert_eq!(parse(&no_cpu, 1), Err(SampleError::NoCpu));
        assert!(matches!(parse(&json!([1]), 1), Err(SampleError::Shape(_))));
    }
}
