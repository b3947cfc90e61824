//! Helpers for the end-to-end tests: real Docker, a real registry, the real AWS CLI.
//!
//! Every end-to-end test in `tests/tests/` builds on these pieces:
//!
//! - [`test_image`]: a tiny HTTP server image made from Debian's static busybox, built once per
//!   content hash and cached in the local Docker Engine.
//! - [`Registry`]: a real Distribution registry (`docker-registry`) on a free loopback port, with
//!   [`Registry::push_test_image`] to publish the test image to it. Tests always run images by
//!   their registry reference (`127.0.0.1:PORT/ecs-e2e/httpd:TAG`), never by a bare name that
//!   Docker would look up on Docker Hub.
//! - [`AwsCli`]: the real AWS CLI (v1, from PyPI) in a venv cached outside the repository, run
//!   against an `--endpoint-url` with isolated credentials and configuration.
//! - [`workspace_bin`]: the path of `ecs-agent` / `ecs-control-plane` built next to the running
//!   test; [`ChildProcess`] runs such a binary and kills it on drop.
//! - [`wait_until`]: poll a condition with a deadline and a message saying what was awaited.
//! - [`Container`], [`docker`]: the Docker CLI, with containers removed on drop.
//! - [`register_task_definition`], [`run_when_placed`], [`describe_task`], [`wait_status`]: the
//!   ECS calls every agent test makes with the AWS CLI; [`unique`] names and [`ClusterCleanup`].
//! - [`ForwardProxy`]: a real forward proxy (Debian's squid) on a free loopback port, with names
//!   only it resolves, for the proxy tests.
//! - [`LinkLocalRoutes`]: 169.254.170.2 routed to one test agent, under a host-wide lock.
//! - [`WireProxy`]: a logging proxy between an agent and the control plane, recording what the
//!   agent sends; [`wire_diff`]: the structure of those messages and the differences between two
//!   agents' recordings.
//! - [`query_xml`]: raw AWS query-protocol (XML) answers, as `aws --debug` logs them, read
//!   into JSON by botocore's model and checked against it (unknown elements are violations).
//! - [`module_graph`]: module import cycles in a crate's sources (a pure scan, no Docker), for the
//!   test that keeps the workspace's crates acyclic.
//!
//! Everything here is blocking (std::process, std::net), so it works the same from a plain
//! `#[test]` and, sparingly, from an async test. Nothing here sleeps blindly: every wait polls a
//! condition under a deadline. This crate is test code, so it uses anyhow throughout.

mod agent;
mod awscli;
mod bins;
mod boto3;
pub mod cli_debug;
mod cmd;
mod control_plane;
mod docker;
mod ecs;
pub mod fake_agent;
pub mod fleet;
mod forward_proxy;
mod image;
mod link_local;
pub mod module_graph;
mod net;
mod process;
pub mod query_xml;
mod registry;
pub mod shapes;
mod wait;
pub mod wire_diff;
mod wire_proxy;

pub use agent::Agent;
pub use awscli::{AWSCLI_VERSION, AwsCli, AwsCliError, awscli_venv, cache_dir};
pub use bins::{
    every_field_fixture, manifest_dir, target_profile_dir, workspace_bin, workspace_bin_path,
};
pub use boto3::{BOTO3_VERSION, boto3_venv};
pub use cmd::{CmdOutput, command_line, output, run};
pub use control_plane::{ControlPlane, EcrControlPlane};
pub use docker::{Container, docker, docker_with_timeout, image_exists, remove_containers_labeled};
pub use ecs::{
    ClusterCleanup, ClusterSetup, container_instances, describe_task, described_tasks,
    instance_attribute, random_id, register_task_definition, register_task_definition_with,
    run_task, run_when_placed, unique, wait_agents_connected, wait_status,
};
pub use forward_proxy::ForwardProxy;
pub use image::{
    TEST_IMAGE_GREETING, TEST_IMAGE_PORT, TEST_IMAGE_REPOSITORY, TestImage, test_image,
};
pub use link_local::{LINK_LOCAL_LOCK, LinkLocalRoutes};
pub use net::{HttpResponse, free_port, http_get, http_get_with_headers, http_request};
pub use process::ChildProcess;
pub use registry::Registry;
pub use wait::{IntoPoll, wait_until};
pub use wire_proxy::WireProxy;
