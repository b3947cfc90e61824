//! Amazon EC2, as much of it as ECS on EC2 needs: the EC2 protocol (a query form with
//! `Action` and `Version=2016-11-15`, SigV4 service `ec2`, XML answers whose lists are
//! `<item>`s), a default VPC with one subnet per availability zone, security groups, images,
//! tags, and instances that really run: each is a container that boots systemd, its own Docker
//! Engine and this project's agent `.deb` ([`host::InstanceHost`], `docker_host.rs`), with an
//! instance metadata service ([`imds`]).
//!
//! Who owns what:
//! - the EC2 state ([`state::State`]: VPC, subnets, groups, instances) is owned by
//!   [`Ec2Handle`] (a lock held for one operation), persisted as `ec2/...` rows of the shared
//!   store before each answer;
//! - the instances' containers are the host's: the state records what was asked (`pending`,
//!   `stopping`, `shutting-down`), jobs ([`instances::HostJob`]) carry it out, and the host's
//!   answer moves the state on (`running`, `stopped`, `terminated`).
//!
//! Without a fleet (`--fleet` off) the API answers for the VPC, subnets, zones, groups and tags,
//! DescribeImages lists nothing and RunInstances says how to turn the fleet on.

pub mod docker_host;
pub mod error;
pub mod host;
pub mod imds;
pub mod instances;
pub mod model;
pub mod network;
pub mod state;
pub mod wire;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::response::Response;
use base64::Engine as _;
use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::front::render;
use crate::front::sigv4::Flavor;
use crate::front::{
    ApiError, Input, Output, Protocol, Refusal, RequestContext, Service, ServiceInfo,
};
use crate::store::Store;
use error::Code;
use host::{AmiImage, HostState, InstanceFile, InstanceHost, LaunchSpec};
use instances::HostJob;
use model::{InstanceState, instance_type};
use state::State;
use wire::{decode, tree};

/// The API version requests carry.
pub const VERSION: &str = "2016-11-15";

/// Where instances run and how they reach this emulator.
#[derive(Clone)]
pub struct Fleet {
    /// The host that runs them.
    pub host: Arc<dyn InstanceHost>,
    /// The VPC's Docker network.
    pub network: String,
    /// The URL the agents on instances use for ECS (`ECS_BACKEND_HOST`).
    pub endpoint: String,
    /// The instance metadata service, where each instance's `169.254.169.254:80` goes.
    pub imds: SocketAddr,
    /// Labels put on everything the host creates.
    pub labels: BTreeMap<String, String>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("network", &self.network)
            .field("endpoint", &self.endpoint)
            .field("imds", &self.imds)
            .finish_non_exhaustive()
    }
}

/// The one owner of the EC2 state.
#[derive(Debug, Clone)]
pub struct Ec2Handle {
    state: Arc<Mutex<State>>,
    store: Store,
    fleet: Option<Fleet>,
}

impl Ec2Handle {
    /// Owns `state`, persisting into `store`; instances run on `fleet` when given.
    pub fn new(state: State, store: Store, fleet: Option<Fleet>) -> Self {
        Ec2Handle {
            state: Arc::new(Mutex::new(state)),
            store,
            fleet,
        }
    }

    /// Runs `f` on the state and makes its changes durable before returning its result.
    pub async fn with_state<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut State) -> R + Send + 'static,
    ) -> Result<R, ApiError> {
        let (state, store) = (Arc::clone(&self.state), self.store.clone());
        tokio::task::spawn_blocking(move || {
            let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
            let out = f(&mut s);
            let changes = s.take_changes();
            if !changes.is_empty() {
                store
                    .apply(&changes)
                    .map_err(|e| ApiError::server(format!("cannot persist EC2 state: {e}")))?;
            }
            Ok(out)
        })
        .await
        .map_err(|e| ApiError::server(format!("the EC2 state task failed: {e}")))?
    }

    /// A read of the state (no changes are written).
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The fleet's images (none without a fleet).
    async fn images(&self) -> Result<Vec<AmiImage>, ApiError> {
        match &self.fleet {
            Some(f) => f
                .host
                .images()
                .await
                .map_err(|e| ApiError::server(e.to_string())),
            None => Ok(Vec::new()),
        }
    }

    /// Runs one operation at `now`.
    pub async fn call(
        &self,
        action: &str,
        params: &BTreeMap<String, String>,
        now: f64,
    ) -> Result<Value, ApiError> {
        if let Some(v) = params.get("Version")
            && v != VERSION
        {
            return Err(Code::InvalidAction.err(format!(
                "The action {action} is not valid for this web service."
            )));
        }
        let t = tree(params);
        let (value, jobs) = match action {
            "DescribeAvailabilityZones" => {
                let r = decode(t)?;
                (
                    self.read(|s| s.describe_availability_zones(&r))?,
                    Vec::new(),
                )
            }
            "DescribeRegions" => (self.read(State::describe_regions), Vec::new()),
            "DescribeVpcs" => {
                let r = decode(t)?;
                (self.read(|s| s.describe_vpcs(&r))?, Vec::new())
            }
            "DescribeSubnets" => {
                let r = decode(t)?;
                (self.read(|s| s.describe_subnets(&r))?, Vec::new())
            }
            "DescribeSecurityGroups" => {
                let r = decode(t)?;
                (self.read(|s| s.describe_security_groups(&r))?, Vec::new())
            }
            "CreateSecurityGroup" => {
                let r = decode(t)?;
                (
                    self.with_state(move |s| s.create_security_group(r))
                        .await??,
                    Vec::new(),
                )
            }
            "DeleteSecurityGroup" => {
                let r = decode(t)?;
                (
                    self.with_state(move |s| s.delete_security_group(&r))
                        .await??,
                    Vec::new(),
                )
            }
            "CreateTags" | "DeleteTags" => {
                let r = decode(t)?;
                let delete = action == "DeleteTags";
                (
                    self.with_state(move |s| s.change_tags(&r, delete))
                        .await??,
                    Vec::new(),
                )
            }
            "DescribeTags" => {
                let r = decode(t)?;
                (self.read(|s| s.describe_tags(&r))?, Vec::new())
            }
            "DescribeImages" => {
                let r = decode(t)?;
                let images = self.images().await?;
                let (region, account) = self.read(|s| (s.region.clone(), s.account_id.clone()));
                (
                    network::describe_images(&images, &r, &region, &account)?,
                    Vec::new(),
                )
            }
            "DescribeInstances" => {
                let r = decode(t)?;
                (
                    self.with_state(move |s| {
                        s.expire(now);
                        s.describe_instances(&r)
                    })
                    .await??,
                    Vec::new(),
                )
            }
            "DescribeInstanceStatus" => {
                let r = decode(t)?;
                (self.read(|s| s.describe_instance_status(&r))?, Vec::new())
            }
            "RunInstances" => {
                if self.fleet.is_none() {
                    return Err(Code::UnsupportedOperation.err(
                        "This emulator runs no instances: start ecs-control-plane with --fleet (it needs Docker and the instance image that packaging/instance-image/build makes).",
                    ));
                }
                let r = decode(t)?;
                let images = self.images().await?;
                self.with_state(move |s| s.run_instances(r, &images, now))
                    .await??
            }
            "StopInstances" | "StartInstances" | "TerminateInstances" => {
                let r = decode(t)?;
                let action = action.to_string();
                self.with_state(move |s| s.change_instances(&action, &r, now))
                    .await??
            }
            other => {
                return Err(Code::InvalidAction.err(format!(
                    "The action {other} is not valid for this web service."
                )));
            }
        };
        for job in jobs {
            self.spawn_job(job);
        }
        Ok(value)
    }

    /// Sends `id` a spot interruption notice (instance metadata shows it at once) and carries it
    /// out after `notice` (EC2 gives two minutes): the instance is then stopped or terminated
    /// with EC2's spot reasons. The time of the interruption (epoch seconds).
    pub async fn interrupt_spot(
        &self,
        id: String,
        action: String,
        notice: std::time::Duration,
    ) -> Result<f64, String> {
        let at = crate::front::context::now_secs() + notice.as_secs_f64();
        let target = id.clone();
        self.with_state(move |s| s.interrupt_spot(&target, &action, at))
            .await
            .map_err(|e| e.message)??;
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(notice).await;
            let now = crate::front::context::now_secs();
            match me.with_state(move |s| s.carry_out_spot(&id, now)).await {
                Ok(Some(job)) => me.spawn_job(job),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e.message, "cannot interrupt a spot instance"),
            }
        });
        Ok(at)
    }

    /// Sets the target lifecycle state instance metadata shows for `id`.
    pub async fn set_target_lifecycle(&self, id: String, state: String) -> Result<(), String> {
        self.with_state(move |s| s.set_target_lifecycle(&id, &state))
            .await
            .map_err(|e| e.message)?
    }

    /// Carries out a host job in the background; the host's answer moves the state on.
    fn spawn_job(&self, job: HostJob) {
        let Some(fleet) = self.fleet.clone() else {
            return;
        };
        let me = self.clone();
        tokio::spawn(async move {
            let (id, done) = match &job {
                HostJob::Launch(id) => (id.clone(), InstanceState::Running),
                HostJob::Start(id) => (id.clone(), InstanceState::Running),
                HostJob::Stop(id) => (id.clone(), InstanceState::Stopped),
                HostJob::Terminate(id) => (id.clone(), InstanceState::Terminated),
            };
            let result = match &job {
                HostJob::Launch(id) => match me.read(|s| launch_spec(s, id, &fleet)) {
                    Some(spec) => fleet.host.launch(&spec).await,
                    None => return,
                },
                HostJob::Start(id) => fleet.host.start(id).await,
                HostJob::Stop(id) => fleet.host.stop(id).await,
                HostJob::Terminate(id) => fleet.host.terminate(id).await,
            };
            let error = result.err().map(|e| {
                tracing::warn!(instance = %id, error = %e, "an instance operation failed");
                e.to_string()
            });
            let now = crate::front::context::now_secs();
            if let Err(e) = me
                .with_state(move |s| s.host_done(&id, done, error.as_deref(), now))
                .await
            {
                tracing::error!(error = %e.message, "cannot record an instance's state");
            }
        });
    }

    /// After a restart: instances take the state their containers are in (a container that is
    /// gone leaves its instance terminated); instances still `pending`, `stopping` or
    /// `shutting-down` finish what was asked.
    pub async fn reconcile(&self) {
        let Some(fleet) = self.fleet.clone() else {
            return;
        };
        let live: Vec<(String, InstanceState)> = self.read(|s| {
            s.instances
                .values()
                .filter(|i| i.state != InstanceState::Terminated)
                .map(|i| (i.instance_id.clone(), i.state))
                .collect()
        });
        for (id, state) in live {
            let on_host = match fleet.host.state(&id).await {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(instance = %id, error = %e, "cannot ask the host about an instance");
                    continue;
                }
            };
            let job = match (state, on_host) {
                (InstanceState::ShuttingDown, _) => Some(HostJob::Terminate(id.clone())),
                (InstanceState::Stopping, HostState::Running) => Some(HostJob::Stop(id.clone())),
                (InstanceState::Pending, HostState::Stopped) => Some(HostJob::Start(id.clone())),
                (InstanceState::Pending, HostState::Gone) => Some(HostJob::Launch(id.clone())),
                _ => None,
            };
            if let Some(job) = job {
                self.spawn_job(job);
                continue;
            }
            let now = crate::front::context::now_secs();
            let result = self
                .with_state(move |s| match on_host {
                    HostState::Running => s.host_done(&id, InstanceState::Running, None, now),
                    HostState::Stopped => s.host_done(&id, InstanceState::Stopped, None, now),
                    HostState::Gone => s.host_done(
                        &id,
                        InstanceState::Terminated,
                        Some("the instance's container is gone"),
                        now,
                    ),
                })
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e.message, "cannot record an instance's state");
            }
        }
    }
}

/// What the host needs to launch instance `id`.
fn launch_spec(s: &State, id: &str, fleet: &Fleet) -> Option<LaunchSpec> {
    let i = s.instances.get(id)?;
    let t = instance_type(&i.instance_type)?;
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let vcpus = i64::from(t.vcpus).min(i64::try_from(cpus).unwrap_or(1));
    let user_data = i.user_data.as_deref().and_then(|d| {
        base64::engine::general_purpose::STANDARD
            .decode(d.trim())
            .ok()
    });
    let drop_in = format!(
        "# Written by the emulated EC2 at launch: where this instance's agent finds the emulated ECS.\n[Service]\nEnvironment=ECS_BACKEND_HOST={}\n",
        fleet.endpoint
    );
    let mut labels = fleet.labels.clone();
    labels.insert("ecs-agent-rs.instance-id".into(), i.instance_id.clone());
    Some(LaunchSpec {
        instance_id: i.instance_id.clone(),
        image: i.image_reference.clone(),
        network: fleet.network.clone(),
        private_ip: i.private_ip,
        hostname: instances::private_dns_name(i),
        nano_cpus: vcpus * 1_000_000_000,
        memory_bytes: i64::from(t.memory_mib) << 20,
        user_data,
        files: vec![InstanceFile {
            path: "/etc/systemd/system/ecs.service.d/50-emulated-ec2.conf".into(),
            contents: drop_in.into_bytes(),
            mode: 0o644,
        }],
        imds: fleet.imds,
        extra_hosts: Vec::new(),
        labels,
    })
}

/// The emulated EC2, as the front calls it.
#[derive(Debug, Clone)]
pub struct Ec2(pub Ec2Handle);

impl Service for Ec2 {
    fn info(&self) -> ServiceInfo {
        ServiceInfo {
            name: "ec2",
            signing_name: "ec2",
            protocol: Protocol::Query,
            flavor: Flavor::Standard,
            max_body: 1 << 20,
        }
    }

    fn call(&self, ctx: RequestContext, input: Input) -> BoxFuture<'_, Result<Output, ApiError>> {
        Box::pin(async move {
            let Input::Query { params } = input else {
                return Err(Code::InvalidAction.err("EC2 speaks the EC2 query protocol."));
            };
            let action = params.get("Action").cloned().unwrap_or_default();
            tracing::debug!(operation = %action, "ec2 request");
            let result = self.0.call(&action, &params, ctx.now).await?;
            Ok(Output::Xml(wire::response_xml(
                &action,
                &result,
                &ctx.request_id,
            )))
        })
    }

    fn refuse(&self, request_id: &str, _method: &http::Method, refusal: Refusal) -> Response {
        self.error(request_id, refusal.into_error())
    }

    fn error(&self, request_id: &str, e: ApiError) -> Response {
        render::xml(
            e.code.status(),
            request_id,
            wire::error_xml(error::auth_code(e.code), &e.message, request_id),
        )
    }
}

#[cfg(test)]
mod tests;
