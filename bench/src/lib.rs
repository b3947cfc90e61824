//! Benchmarks of this workspace's programs, run in release mode by their binaries in `src/bin/`;
//! the results and the method are recorded in `BENCHMARKS.md` at the repository root.
//!
//! Speed is measured here, never in timed tests. A benchmark measures with [`std::time::Instant`],
//! keeps every sample and derives percentiles from the sorted samples ([`stats`]); nothing is
//! estimated or hard-coded. Where two setups are compared, the output prints their ratio.
//!
//! - [`credentials`]: the agent's task credentials endpoint, requests/s and latency.
//! - [`elb`]: the ELBv2 data plane, through an emulated load balancer against direct, and the
//!   control plane's memory with load balancers.
//! - [`control_plane`]: RunTask + DescribeTasks against the `ecs-control-plane` binary with 100
//!   connected container instances, with state in memory and on disk.
//!
//! Like the end-to-end test helpers it builds on (`ecs-e2e-tests`), this is harness code, not a
//! library for others: it reports errors with anyhow.

pub mod agent;
pub mod control_plane;
pub mod credentials;
pub mod elb;
pub mod lean_client;
pub mod stats;
pub mod sysinfo;
