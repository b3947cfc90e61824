//! One container's samples since the last publish, in a ring of fixed size (the reference's
//! per-container stats queue, `agent/stats/queue.go`), and the stat sets TCS gets from them.
//!
//! Each sample is turned into usage when it arrives, against the one before it (kept across
//! publishes, so the first sample after a publish has a CPU figure too):
//!
//! - CPU: `100 × Δ(CPU time / CPUs) / Δ(read time)`, percent of the instance's CPUs. The very first
//!   sample has none (NaN, skipped by the set, as the reference's). Same read time as the sample
//!   before: that sample's figure is repeated.
//! - memory: MiB, rounded down.
//! - network: the counters as they are (cumulative), and bytes per second in and out between
//!   samples. A counter that went backwards (a restart) gives a rate of 0, not a wrapped one.
//! - storage: block I/O bytes read and written, cumulative.
//!
//! When the ring is full the oldest sample goes: nothing grows, however long TCS is away.

use std::collections::VecDeque;

use ecs_protocol::tcs::{
    ContainerMetric, CwStatsSet, NetworkStatsSet, StorageStatsSet, ULongStatsSet,
};

use super::sample::{NetCounters, RawSample};

const BYTES_IN_MIB: u64 = 1024 * 1024;

/// What one sample comes to.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Usage {
    cpu_percent: f64,
    memory_mib: u64,
    network: Option<(NetCounters, f64, f64)>,
    storage_read_bytes: u64,
    storage_write_bytes: u64,
}

/// The ring of one container's usage since the last publish.
#[derive(Debug, Clone)]
pub struct Window {
    capacity: usize,
    samples: VecDeque<Usage>,
    /// The sample before the newest, for the deltas.
    last: Option<RawSample>,
}

impl Window {
    /// An empty window holding at most `capacity` samples (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            samples: VecDeque::with_capacity(capacity),
            last: None,
        }
    }

    /// Samples held (since the last [`Self::take_metric`]).
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether no sample is held.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The newest sample's cumulative counters (kept across [`Self::take_metric`]).
    pub fn latest(&self) -> Option<&RawSample> {
        self.last.as_ref()
    }

    /// Adds a sample, dropping the oldest when full.
    pub fn push(&mut self, raw: RawSample) {
        let previous = self.samples.back().copied();
        let mut usage = Usage {
            cpu_percent: f64::NAN,
            memory_mib: raw.memory_bytes / BYTES_IN_MIB,
            network: raw.network.map(|n| (n, f64::NAN, f64::NAN)),
            storage_read_bytes: raw.storage_read_bytes,
            storage_write_bytes: raw.storage_write_bytes,
        };
        if let Some(last) = self.last {
            let elapsed_ns = raw.read_ns - last.read_ns;
            if elapsed_ns <= 0 {
                // The same reading twice: repeat the figures of the one before.
                if let Some(p) = previous {
                    usage.cpu_percent = p.cpu_percent;
                    if let (Some((_, rx, tx)), Some(n)) = (p.network, usage.network.as_mut()) {
                        (n.1, n.2) = (rx, tx);
                    }
                }
            } else {
                let elapsed = elapsed_ns as f64;
                usage.cpu_percent = 100.0 * raw.cpu_ns.saturating_sub(last.cpu_ns) as f64 / elapsed;
                if let (Some(n), Some(before)) = (usage.network.as_mut(), last.network) {
                    let per_second =
                        |now: u64, then: u64| now.saturating_sub(then) as f64 * 1e9 / elapsed;
                    n.1 = per_second(n.0.rx_bytes, before.rx_bytes);
                    n.2 = per_second(n.0.tx_bytes, before.tx_bytes);
                }
            }
        }
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(usage);
        self.last = Some(raw);
    }

    /// The stat sets of the samples held, and a fresh start for the next publish; `None` (the
    /// samples kept) while there is no CPU or memory figure yet, as the reference skips such a
    /// container. The network set only when Docker reports networks.
    pub fn take_metric(&mut self) -> Option<ContainerMetric> {
        let cpu = CwStatsSet::from_f64s(self.samples.iter().map(|u| u.cpu_percent))?;
        let memory = CwStatsSet::from_f64s(self.samples.iter().map(|u| u.memory_mib as f64))?;
        let networks: Vec<(NetCounters, f64, f64)> =
            self.samples.iter().filter_map(|u| u.network).collect();
        let network = (!networks.is_empty()).then(|| {
            let counter = |f: fn(&NetCounters) -> u64| {
                ULongStatsSet::from_u64s(networks.iter().map(|(n, _, _)| f(n)))
            };
            NetworkStatsSet {
                rx_bytes: counter(|n| n.rx_bytes),
                rx_bytes_per_second: CwStatsSet::from_f64s(networks.iter().map(|n| n.1)),
                rx_dropped: counter(|n| n.rx_dropped),
                rx_errors: counter(|n| n.rx_errors),
                rx_packets: counter(|n| n.rx_packets),
                tx_bytes: counter(|n| n.tx_bytes),
                tx_bytes_per_second: CwStatsSet::from_f64s(networks.iter().map(|n| n.2)),
                tx_dropped: counter(|n| n.tx_dropped),
                tx_errors: counter(|n| n.tx_errors),
                tx_packets: counter(|n| n.tx_packets),
            }
        });
        let storage = StorageStatsSet {
            read_size_bytes: ULongStatsSet::from_u64s(
                self.samples.iter().map(|u| u.storage_read_bytes),
            ),
            write_size_bytes: ULongStatsSet::from_u64s(
                self.samples.iter().map(|u| u.storage_write_bytes),
            ),
        };
        self.samples.clear();
        Some(ContainerMetric {
            cpu_stats_set: Some(cpu),
            memory_stats_set: Some(memory),
            network_stats_set: network,
            storage_stats_set: Some(storage),
            ..ContainerMetric::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecs_protocol::tcs::Double;

    const SECOND: i128 = 1_000_000_000;

    fn raw(at_s: i128, cpu_ns: u64, mib: u64, rx: u64) -> RawSample {
        RawSample {
            read_ns: at_s * SECOND,
            cpu_ns,
            memory_bytes: mib * BYTES_IN_MIB + 123,
            network: Some(NetCounters {
                rx_bytes: rx,
                tx_bytes: 10,
                ..NetCounters::default()
            }),
            storage_read_bytes: 7,
            storage_write_bytes: 0,
        }
    }

    #[test]
    fn cpu_is_the_share_of_the_instance_between_samples_and_the_first_has_none() {
        let mut w = Window::new(10);
        w.push(raw(100, 0, 5, 0));
        // Half a CPU-second of (CPU time / CPUs) in one second: 50 %.
        w.push(raw(101, 500_000_000, 6, 1000));
        w.push(raw(103, 700_000_000, 7, 1500));
        let m = w.take_metric().unwrap();
        let cpu = m.cpu_stats_set.unwrap();
        assert_eq!(cpu.sample_count, Some(2));
        assert_eq!((cpu.min, cpu.max), (Some(Double(10.0)), Some(Double(50.0))));
        assert_eq!(cpu.sum, Some(Double(60.0)));
        let mem = m.memory_stats_set.unwrap();
        assert_eq!(
            (mem.min, mem.max, mem.sample_count),
            (Some(Double(5.0)), Some(Double(7.0)), Some(3))
        );
        let net = m.network_stats_set.unwrap();
        let rx = net.rx_bytes.unwrap();
        assert_eq!(
            (rx.min, rx.max, rx.sum, rx.sample_count),
            (Some(0), Some(1500), Some(2500), Some(3))
        );
        let rate = net.rx_bytes_per_second.unwrap();
        assert_eq!(
            (rate.min, rate.max, rate.sample_count),
            (Some(Double(250.0)), Some(Double(1000.0)), Some(2))
        );
        assert_eq!(net.tx_bytes_per_second.unwrap().max, Some(Double(0.0)));
        assert_eq!(
            m.storage_stats_set.unwrap().read_size_bytes.unwrap().sum,
            Some(21)
        );
        assert!(w.is_empty());
    }

    #[test]
    fn after_a_publish_the_next_sample_still_has_a_cpu_figure() {
        let mut w = Window::new(10);
        w.push(raw(0, 0, 1, 0));
        // One sample, no predecessor: nothing to say yet, and the sample is kept.
        assert_eq!(w.take_metric(), None);
        assert_eq!(w.len(), 1);
        w.push(raw(1, 100_000_000, 1, 0));
        assert!(w.take_metric().is_some());
        w.push(raw(2, 300_000_000, 1, 0));
        let cpu = w.take_metric().unwrap().cpu_stats_set.unwrap();
        assert_eq!((cpu.sample_count, cpu.sum), (Some(1), Some(Double(20.0))));
    }

    #[test]
    fn the_ring_keeps_only_the_newest_samples() {
        let mut w = Window::new(3);
        for s in 0..100 {
            w.push(raw(s, s as u64 * 10_000_000, s as u64, 0));
            assert!(w.len() <= 3);
        }
        let mem = w.take_metric().unwrap().memory_stats_set.unwrap();
        assert_eq!(
            (mem.min, mem.max, mem.sample_count),
            (Some(Double(97.0)), Some(Double(99.0)), Some(3))
        );
    }

    #[test]
    fn a_repeated_reading_repeats_the_figures_and_a_reset_counter_is_no_negative_rate() {
        let mut w = Window::new(10);
        w.push(raw(0, 0, 1, 0));
        w.push(raw(1, 250_000_000, 1, 100));
        w.push(raw(1, 250_000_000, 1, 100));
        // The container restarted: its counters start again.
        w.push(raw(2, 0, 1, 5));
        let m = w.take_metric().unwrap();
        let cpu = m.cpu_stats_set.unwrap();
        assert_eq!(
            (cpu.min, cpu.max, cpu.sample_count),
            (Some(Double(0.0)), Some(Double(25.0)), Some(3))
        );
        let rate = m.network_stats_set.unwrap().rx_bytes_per_second.unwrap();
        assert_eq!(
            (rate.min, rate.max),
            (Some(Double(0.0)), Some(Double(100.0)))
        );
    }

    #[test]
    fn no_networks_means_no_network_set() {
        let mut w = Window::new(4);
        for s in 0..2 {
            let mut r = raw(s, 0, 1, 0);
            r.network = None;
            w.push(r);
        }
        let m = w.take_metric().unwrap();
        assert_eq!(m.network_stats_set, None);
        assert!(m.storage_stats_set.is_some());
    }
}
