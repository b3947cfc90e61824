//! `ecs-control-plane`: an emulated Amazon ECS control plane that the real AWS CLI, the AWS SDKs and
//! an ECS agent can talk to, on one machine and with no AWS account.
//!
//! One HTTP listener and one front ([`front`]) serve every emulated service: ECS and its ACS/TCS
//! websocket, STS, ECR, CloudWatch (metrics and alarms), CloudWatch Logs, SSM Parameter Store
//! with Secrets Manager, a small S3, Elastic Load Balancing v2 with its proxies, and EC2 (with
//! `--fleet`, instances that really run, and their metadata service), one folder each. The
//! front recognises the protocol, verifies SigV4 once and hands the request to the service; each service owns its state (an actor, persisted to the shared redb
//! file under the data dir) and gets nothing else. `ARCHITECTURE.md` has the map. This crate must
//! not depend on the agent.

pub mod acs;
pub mod cloudwatch;
pub mod ec2;
pub mod ecr;
pub mod ecs;
pub mod elbv2;
pub mod faults;
pub mod front;
pub mod logs;
pub mod s3;
pub mod ssm;
pub mod store;
pub mod sts;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use ecr::EcrOptions;
use ecs::state::{Account, State, StateHandle};
pub use front::Keys;
use front::{Authenticator, Service};
use store::{Store, StoreError};
use sts::keys::TempKeys;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4566";
/// Default account id.
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";
/// Default region.
pub const DEFAULT_REGION: &str = "us-east-1";
/// The default VPC's CIDR, as EC2's default VPCs have it.
pub const DEFAULT_VPC_CIDR: &str = "172.31.0.0/16";
/// Default access key id when `AWS_ACCESS_KEY_ID` is not set (AWS's documented example key).
pub const DEFAULT_ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
/// Default secret when `AWS_SECRET_ACCESS_KEY` is not set (AWS's documented example secret).
pub const DEFAULT_SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// How the emulator is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Region of every ARN.
    pub region: String,
    /// Account of every ARN.
    pub account_id: String,
    /// Accepted keys.
    pub keys: Keys,
    /// Where state is kept; `None` keeps it in memory.
    pub data_dir: Option<PathBuf>,
    /// ACS heartbeat interval.
    pub heartbeat_interval: Duration,
    /// Allowed signature clock skew (`None` disables the check).
    pub max_skew: Option<Duration>,
    /// URL handed out by DiscoverPollEndpoint; `None` uses the Host the agent called.
    pub advertise_url: Option<String>,
    /// The emulated ECR (a registry process); `None` leaves ECR off.
    pub ecr: Option<EcrOptions>,
    /// Lifetime of task role credentials; they are refreshed when half of it is left.
    pub role_credentials_lifetime: Duration,
    /// How often CloudWatch evaluates its alarms.
    pub alarm_evaluation_interval: Duration,
    /// How often the `AWS/ECS` metrics are computed (ECS sends them once a minute).
    pub ecs_metrics_interval: Duration,
    /// The default VPC's CIDR (a /16), fixed at the data dir's first start.
    pub vpc_cidr: String,
    /// Emulated EC2 instances that really run; `None` runs none.
    pub fleet: Option<FleetOptions>,
    /// TLS on the listeners, and whether plain HTTP may be served beyond loopback.
    pub tls: TlsOptions,
}

/// Where the emulator serves TLS. Plain HTTP is for loopback: the main listener beyond
/// loopback needs `listen_tls` or `insecure`, and with a fleet the VPC's gateway serves TLS
/// unless `insecure` (the instance metadata service stays plain HTTP, as on EC2).
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Serve TLS on the main listener (`--tls`).
    pub listen_tls: bool,
    /// The server certificate: given files, or the emulator's own CA (the default).
    pub source: front::tls::CertSource,
    /// Also write the certificate clients must trust (the CA's) to this file.
    pub ca_out: Option<PathBuf>,
    /// Names (DNS names or addresses) the own CA's server certificate also covers, besides
    /// `localhost`, loopback and the listening addresses (`--tls-name`).
    pub names: Vec<String>,
    /// Allow plain HTTP beyond loopback (`--insecure-listen`): on the main listener, and on
    /// the VPC's gateway instead of TLS.
    pub insecure: bool,
}

/// Where instances find the CA certificate the control plane's listeners are issued by; it is
/// written there before their first boot (the instance image's ecs-agent-rs-ca-trust.service
/// adds it to the system store before ecs.service starts) and named to the agent as
/// `AWS_CA_BUNDLE` by a drop-in.
pub const INSTANCE_CA_PATH: &str =
    "/usr/local/share/ca-certificates/ecs-agent-rs-control-plane.crt";

/// Where emulated EC2 instances run and how they reach this emulator.
#[derive(Clone)]
pub struct FleetOptions {
    /// The host that runs them.
    pub host: Arc<dyn ec2::host::InstanceHost>,
    /// The Docker network of the VPC (created when missing, on the VPC's CIDR).
    pub network: String,
    /// The port of the instance metadata service on the VPC's gateway.
    pub imds_port: u16,
    /// Labels put on the network and on every instance.
    pub labels: std::collections::BTreeMap<String, String>,
}

impl std::fmt::Debug for FleetOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetOptions")
            .field("network", &self.network)
            .field("imds_port", &self.imds_port)
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            region: DEFAULT_REGION.into(),
            account_id: DEFAULT_ACCOUNT_ID.into(),
            keys: Keys::new(DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY),
            data_dir: None,
            heartbeat_interval: Duration::from_secs(30),
            max_skew: Some(Duration::from_secs(15 * 60)),
            advertise_url: None,
            ecr: None,
            role_credentials_lifetime: Duration::from_secs(
                ecs::state::DEFAULT_ROLE_CREDENTIALS_LIFETIME_SECS.unsigned_abs(),
            ),
            alarm_evaluation_interval: Duration::from_secs(10),
            ecs_metrics_interval: Duration::from_secs(60),
            vpc_cidr: DEFAULT_VPC_CIDR.into(),
            fleet: None,
            tls: TlsOptions::default(),
        }
    }
}

/// Why the emulator could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The data dir could not be created.
    #[error("data dir {path}: {source}")]
    DataDir {
        /// The dir.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Serving failed.
    #[error("serving HTTP: {0}")]
    Serve(std::io::Error),
    /// The ECR registry could not start.
    #[error("emulated ECR: {0}")]
    Registry(#[from] ecr::registry::RegistryError),
    /// The admin interface failed.
    #[error(transparent)]
    Admin(#[from] faults::admin::AdminError),
    /// The emulated EC2 could not start (its VPC, its network or its listeners).
    #[error("emulated EC2: {0}")]
    Ec2(String),
    /// TLS could not be set up, or a listener would serve plain HTTP beyond loopback.
    #[error(transparent)]
    Tls(#[from] front::tls::TlsError),
}

/// What the admin interface may do to the rest of the emulator: drop ACS sessions, expire task
/// credentials.
struct AdminControls {
    acs: acs::Acs,
    state: StateHandle,
    ec2: ec2::Ec2Handle,
}

impl faults::admin::Controls for AdminControls {
    fn drop_acs(&self, container_instance_arn: Option<String>) -> usize {
        self.acs.drop_sessions(container_instance_arn.as_deref())
    }

    fn expire_credentials(
        &self,
        task_arn: Option<String>,
    ) -> futures_util::future::BoxFuture<'_, Result<usize, String>> {
        Box::pin(async move {
            let now = front::context::now_secs();
            self.state
                .call(move |s| ecs::roles::expire_now(s, task_arn.as_deref(), now))
                .await
                .map_err(|e| e.message)
        })
    }

    fn interrupt_spot(
        &self,
        instance_id: String,
        action: String,
        notice: Duration,
    ) -> futures_util::future::BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            let at = self.ec2.interrupt_spot(instance_id, action, notice).await?;
            Ok(sts::iso8601(at))
        })
    }

    fn set_target_lifecycle(
        &self,
        instance_id: String,
        state: String,
    ) -> futures_util::future::BoxFuture<'_, Result<(), String>> {
        Box::pin(self.ec2.set_target_lifecycle(instance_id, state))
    }
}

/// Refreshes task role credentials before they expire, checking a tenth of their lifetime apart
/// (at most every minute, at least every second).
async fn refresh_role_credentials(
    state: StateHandle,
    lifetime: Duration,
    shutdown: CancellationToken,
) {
    let every = (lifetime / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = front::context::now_secs();
        match state.call(move |s| ecs::roles::refresh_due(s, now)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "task role credentials refreshed"),
            Err(e) => tracing::warn!(error = %e.message, "cannot refresh task role credentials"),
        }
    }
}

/// Runs the service scheduler once a second, so that placements that failed are retried and
/// INACTIVE services are purged; changes of state run it too (see `api.rs`).
async fn tick_service_scheduler(state: StateHandle, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = front::context::now_secs();
        if let Err(e) = state.call(move |s| s.schedule_services(now)).await {
            tracing::warn!(error = %e.message, "cannot run the service scheduler");
        }
    }
}

/// Hands CloudWatch the ECS facts of the `AWS/ECS` metrics every `interval`, each round's
/// datapoints stamped with the minute it falls in (as ECS sends one-minute datapoints).
async fn feed_ecs_metrics(
    state: StateHandle,
    cloudwatch: cloudwatch::CloudWatchHandle,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let facts = match state.call(|s| ecs::cloudwatch_facts::facts(s)).await {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e.message, "cannot read the ECS facts of AWS/ECS metrics");
                continue;
            }
        };
        let now = front::context::now_secs();
        let minute = (now / 60.0).floor() * 60.0;
        if let Err(e) = cloudwatch
            .call(move |s| s.record_ecs(&facts, minute, now))
            .await
        {
            tracing::warn!(error = %e.message, "cannot record AWS/ECS metrics");
        }
    }
}

/// Tells ECS, once a second, of the EC2 instances that were stopped or terminated, as EC2 tells
/// ECS: their tasks stop and a terminated instance's container instance is deregistered
/// ([`ecs::instances::HostGone`]). Each instance is told once per stop or termination (again after
/// a restart of the emulator, which changes nothing for one already dealt with).
async fn tell_ecs_of_gone_hosts(
    ec2: ec2::Ec2Handle,
    state: StateHandle,
    shutdown: CancellationToken,
) {
    use ec2::model::InstanceState;
    use ecs::instances::HostGone;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut told: Vec<(String, HostGone, bool)> = Vec::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let gone: Vec<(String, HostGone, bool)> = ec2.read(|s| {
            s.instances
                .values()
                .filter_map(|i| {
                    let how = match i.state {
                        InstanceState::Stopped => HostGone::Stopped,
                        InstanceState::Terminated => HostGone::Terminated,
                        _ => return None,
                    };
                    let spot = i
                        .state_reason
                        .as_ref()
                        .is_some_and(|(code, _)| code.starts_with("Server.SpotInstance"));
                    Some((i.instance_id.clone(), how, spot))
                })
                .collect()
        });
        // An instance started again leaves the set, so that its next stop is told too.
        told.retain(|t| gone.contains(t));
        let new: Vec<(String, HostGone, bool)> =
            gone.into_iter().filter(|g| !told.contains(g)).collect();
        if new.is_empty() {
            continue;
        }
        let now = front::context::now_secs();
        let sent = new.clone();
        let stopped = state
            .call(move |s| {
                sent.iter()
                    .map(|(id, how, spot)| s.host_gone(id, *how, *spot, now))
                    .sum::<usize>()
            })
            .await;
        if stopped.is_ok() {
            told.extend(new);
        }
        match stopped {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                tasks = n,
                "tasks on stopped or terminated EC2 instances stopped"
            ),
            Err(e) => {
                tracing::warn!(error = %e.message, "cannot tell ECS of stopped EC2 instances")
            }
        }
    }
}

/// The EC2 handle over `state`, and with a fleet: its VPC's network made sure of, and the
/// listeners instances use on the VPC's gateway (the API on `listener`'s port, over TLS with
/// `tls`, whose CA certificate each instance gets; the metadata service on the fleet's port).
async fn start_ec2(
    state: ec2::state::State,
    store: &Store,
    config: &Config,
    listener: &TcpListener,
    tls: Option<&front::tls::Tls>,
) -> Result<(ec2::Ec2Handle, Option<(TcpListener, TcpListener)>), Error> {
    let Some(options) = &config.fleet else {
        return Ok((ec2::Ec2Handle::new(state, store.clone(), None), None));
    };
    let (Some(vpc), Some(gateway)) = (state.default_vpc().cloned(), state.gateway()) else {
        return Err(Error::Ec2("the default VPC is missing".into()));
    };
    let network = ec2::host::VpcNetwork {
        name: options.network.clone(),
        cidr: vpc.cidr.clone(),
        gateway,
        labels: options.labels.clone(),
    };
    options
        .host
        .ensure_network(&network)
        .await
        .map_err(|e| Error::Ec2(format!("the VPC's network {}: {e}", network.name)))?;
    let port = listener.local_addr().map_err(Error::Serve)?.port();
    let bind = |port: u16| async move {
        TcpListener::bind((gateway, port)).await.map_err(|e| {
            Error::Ec2(format!(
                "listening on the VPC's gateway {gateway}:{port}: {e}"
            ))
        })
    };
    let api = bind(port).await?;
    let imds = bind(options.imds_port).await?;
    let imds_addr = imds.local_addr().map_err(Error::Serve)?;
    let (scheme, host) = match tls {
        Some(tls) => (
            "https",
            Arc::new(ec2::host::WithFiles::new(
                Arc::clone(&options.host),
                instance_trust_files(tls),
            )) as Arc<dyn ec2::host::InstanceHost>,
        ),
        None => ("http", Arc::clone(&options.host)),
    };
    let fleet = ec2::Fleet {
        host,
        network: options.network.clone(),
        endpoint: format!("{scheme}://{gateway}:{port}"),
        imds: imds_addr,
        labels: options.labels.clone(),
    };
    Ok((
        ec2::Ec2Handle::new(state, store.clone(), Some(fleet)),
        Some((api, imds)),
    ))
}

/// What every instance gets so that its agent trusts the gateway's TLS listener: the CA
/// certificate at [`INSTANCE_CA_PATH`] and a drop-in naming it as `AWS_CA_BUNDLE`.
fn instance_trust_files(tls: &front::tls::Tls) -> Vec<ec2::host::InstanceFile> {
    let drop_in = format!(
        "# Written by the emulated EC2 at launch: the CA the control plane's TLS certificate is issued by.\n[Service]\nEnvironment=AWS_CA_BUNDLE={INSTANCE_CA_PATH}\n"
    );
    vec![
        ec2::host::InstanceFile {
            path: INSTANCE_CA_PATH.into(),
            contents: tls.trust_pem().as_bytes().to_vec(),
            mode: 0o644,
        },
        ec2::host::InstanceFile {
            path: "/etc/systemd/system/ecs.service.d/60-control-plane-ca.conf".into(),
            contents: drop_in.into_bytes(),
            mode: 0o644,
        },
    ]
}

/// The TLS material when some listener serves TLS (the main one with `listen_tls`, the VPC's
/// gateway with a fleet unless `insecure`); the CA certificate also written to `ca_out`.
fn load_tls(config: &Config) -> Result<Option<front::tls::Tls>, Error> {
    let options = &config.tls;
    if !options.listen_tls && (config.fleet.is_none() || options.insecure) {
        return Ok(None);
    }
    let tls = front::tls::Tls::load(&options.source, config.data_dir.as_deref())?;
    if let Some(out) = &options.ca_out {
        tls.write_trust_pem(out)?;
    }
    let ca = options.ca_out.as_deref().or(tls.trust_path());
    match ca {
        Some(path) => {
            tracing::info!(ca = %path.display(), "TLS: clients trust the certificate in this file (AWS_CA_BUNDLE)")
        }
        None => tracing::info!(
            "TLS with a CA made for this run only (no --data-dir): --tls-ca-out FILE writes its certificate for clients"
        ),
    }
    Ok(Some(tls))
}

/// Serves `router` on `listener`: over TLS with `tls`, else plain HTTP.
async fn serve_listener(
    listener: TcpListener,
    router: axum::Router,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    shutdown: CancellationToken,
) -> Result<(), std::io::Error> {
    match tls {
        Some(config) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            front::tls::serve(listener, acceptor, router, shutdown).await;
            Ok(())
        }
        None => {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await
        }
    }
}

/// Serves every API on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    serve_with_admin(listener, None, config, shutdown).await
}

/// As [`serve`], with the fault-injection admin interface ([`faults::admin`]) on `admin` when
/// given (a loopback listener, or this fails at once). If the admin interface fails, the whole
/// emulator stops and says why.
pub async fn serve_with_admin(
    listener: TcpListener,
    admin: Option<TcpListener>,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    if let Some(l) = &admin {
        faults::admin::check_loopback(l.local_addr().map_err(Error::Serve)?)?;
    }
    let listen_addr = listener.local_addr().map_err(Error::Serve)?;
    front::tls::check_listen(listen_addr, config.tls.listen_tls, config.tls.insecure)?;
    let store = match &config.data_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| Error::DataDir {
                path: dir.clone(),
                source,
            })?;
            Store::open(&dir.join("control-plane.db"))?
        }
        None => Store::in_memory()?,
    };
    let account = Account {
        region: config.region.clone(),
        account_id: config.account_id.clone(),
    };
    let rows = store.load()?;
    let keys = TempKeys::restore(&rows, store.clone())?;
    let vault = ssm::Vault::restore(&config.region, &config.account_id, &rows)?;
    #[allow(clippy::cast_possible_truncation)]
    let logs = logs::Logs::restore(
        &config.region,
        &config.account_id,
        &rows,
        store.is_durable(),
        (front::context::now_secs() * 1000.0) as i64,
    )?;
    let blobs = match &config.data_dir {
        Some(dir) => {
            let blob_dir = dir.join("s3").join("blobs");
            s3::store::Blobs::open_dir(&blob_dir).map_err(|source| Error::DataDir {
                path: blob_dir,
                source,
            })?
        }
        None => s3::store::Blobs::Memory(Default::default()),
    };
    let objects = s3::store::ObjectStore::restore(&rows, blobs, store.clone())?;
    let elb = elbv2::state::State::restore(
        elbv2::state::Scope::new(&config.region, &config.account_id),
        &rows,
    )
    .map_err(|e| StoreError::Db {
        path: PathBuf::from(elbv2::state::KEY_PREFIX),
        message: format!("undecodable ELBv2 entity: {e}"),
    })?;
    let ec2_state =
        ec2::state::State::restore(&config.region, &config.account_id, &config.vpc_cidr, &rows)
            .map_err(Error::Ec2)?;
    let tls = load_tls(&config)?;
    let gateway_tls = if config.tls.insecure {
        None
    } else {
        tls.as_ref()
    };
    let (ec2, fleet_listeners) =
        start_ec2(ec2_state, &store, &config, &listener, gateway_tls).await?;
    // One server certificate for every TLS listener's address.
    let server_tls = match &tls {
        Some(tls) => {
            let mut ips = vec![listen_addr.ip()];
            if let Some((api, _)) = &fleet_listeners {
                ips.push(api.local_addr().map_err(Error::Serve)?.ip());
            }
            Some(tls.server_config(&ips, &config.tls.names)?)
        }
        None => None,
    };
    // An emulated EC2 instance's targets are reached at its private address; every other
    // container instance runs on this machine and is reached on loopback.
    let resolve_instance: elbv2::plan::Resolver = {
        let ec2 = ec2.clone();
        Arc::new(move |instance_id: &str| {
            let private = ec2.read(|s| s.instances.get(instance_id).map(|i| i.private_ip));
            Some(std::net::IpAddr::V4(
                private.unwrap_or(std::net::Ipv4Addr::LOCALHOST),
            ))
        })
    };
    let data_plane =
        elbv2::dataplane::DataPlane::start(resolve_instance, elb.health.clone(), shutdown.clone());
    let elb = elbv2::Elbv2Handle::spawn_with(elb, store.clone(), Some(data_plane));
    let tcs_metrics = Arc::new(cloudwatch::tcs_metrics::MetricsStore::new());
    let cloudwatch = cloudwatch::CloudWatchHandle::spawn(cloudwatch::State::restore(
        &config.region,
        &config.account_id,
        Arc::clone(&tcs_metrics),
        store.clone(),
        &rows,
        front::context::now_secs(),
    )?);
    cloudwatch.spawn_evaluator(config.alarm_evaluation_interval, shutdown.clone());
    let mut state = State::restore(account, rows, keys.clone())?;
    let ecr = match &config.ecr {
        Some(options) => {
            let endpoint = match (&config.advertise_url, listener.local_addr()) {
                (Some(url), _) => url.clone(),
                (None, Ok(addr)) if config.tls.listen_tls => format!("https://{addr}"),
                (None, Ok(addr)) => format!("http://{addr}"),
                (None, Err(e)) => return Err(Error::Serve(e)),
            };
            let started = ecr::start(options, &config, endpoint).await?;
            state.ecr = Some(started.reference.clone());
            Some(started)
        }
        None => None,
    };
    state.role_credentials_lifetime_secs =
        i64::try_from(config.role_credentials_lifetime.as_secs().max(2)).unwrap_or(i64::MAX);
    let vault = ssm::VaultHandle::spawn(vault, store.clone());
    let logs = logs::LogsHandle::spawn(logs, store.clone());
    logs.spawn_expiry(Duration::from_secs(60), shutdown.clone());
    let handle = StateHandle::spawn(state, store);
    tokio::spawn(refresh_role_credentials(
        handle.clone(),
        config.role_credentials_lifetime,
        shutdown.clone(),
    ));
    tokio::spawn(tick_service_scheduler(handle.clone(), shutdown.clone()));
    tokio::spawn(tell_ecs_of_gone_hosts(
        ec2.clone(),
        handle.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(ecs::load_balancing::run(
        handle.clone(),
        elb.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(feed_ecs_metrics(
        handle.clone(),
        cloudwatch.clone(),
        config.ecs_metrics_interval,
        shutdown.clone(),
    ));
    let auth = Authenticator::new(
        config.keys.clone(),
        config.account_id.clone(),
        config.max_skew,
        Arc::new(keys.clone()),
    );
    let acs = acs::Acs::new(
        handle.clone(),
        tcs_metrics,
        config.heartbeat_interval,
        shutdown.clone(),
        auth.clone(),
    );
    let faults = faults::Faults::new();
    let admin = admin.map(|listener| {
        let controls = Arc::new(AdminControls {
            acs: acs.clone(),
            state: handle.clone(),
            ec2: ec2.clone(),
        });
        let (faults, shutdown) = (faults.clone(), shutdown.clone());
        tokio::spawn(async move {
            let served = faults::admin::serve(listener, faults, controls, shutdown.clone()).await;
            if let Err(e) = &served {
                tracing::error!(error = %e, "the admin interface failed; shutting down");
                shutdown.cancel();
            }
            served
        })
    });
    // The service table: one line per emulated AWS service.
    let services: Vec<Arc<dyn Service>> = vec![
        Arc::new(ecs::Ecs::new(handle, config.advertise_url.clone()).with_elbv2(elb.clone())),
        Arc::new(acs),
        Arc::new(sts::Sts::new(keys.clone(), config.account_id.clone())),
        Arc::new(ecr::EcrApi(ecr.as_ref().map(|e| Arc::clone(&e.api)))),
        Arc::new(logs),
        Arc::new(ssm::ParameterStoreApi(vault.clone())),
        Arc::new(ssm::SecretsManagerApi(vault)),
        Arc::new(s3::S3::new(
            s3::store::S3Handle::spawn(objects),
            config.account_id.clone(),
            config.region.clone(),
        )),
        Arc::new(elbv2::Elbv2(elb)),
        Arc::new(cloudwatch::CloudWatch(cloudwatch)),
        Arc::new(ec2::Ec2(ec2.clone())),
    ];
    let front = front::Front::new(services, auth);
    let front = if admin.is_some() {
        front.with_faults(faults)
    } else {
        front
    };
    let router = front::router(Arc::new(front));
    if let Some((api, imds)) = fleet_listeners {
        // Instances reach the API and their metadata on the VPC's gateway.
        let stop = shutdown.clone();
        let instances_router = router.clone();
        let api_tls = gateway_tls.and(server_tls.clone());
        tokio::spawn(async move {
            if let Err(e) = serve_listener(api, instances_router, api_tls, stop).await {
                tracing::error!(error = %e, "serving the VPC's gateway failed");
            }
        });
        let imds_service = ec2::imds::Imds::new(ec2.clone(), keys.clone());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = imds_service.serve(imds, stop).await {
                tracing::error!(error = %e, "the instance metadata service failed");
            }
        });
        let reconciling = ec2.clone();
        tokio::spawn(async move { reconciling.reconcile().await });
    }
    let main_tls = server_tls.filter(|_| config.tls.listen_tls);
    tracing::info!(addr = %listen_addr, tls = main_tls.is_some(), "serving");
    let served = serve_listener(listener, router, main_tls, shutdown.clone())
        .await
        .map_err(Error::Serve);
    // The registry stops with the emulator (also when serving failed).
    if let Some(e) = ecr {
        e.stop().await;
    }
    served?;
    let Some(admin) = admin else {
        return Ok(());
    };
    match admin.await {
        Ok(admin_served) => admin_served.map_err(Error::from),
        Err(e) => Err(Error::Serve(std::io::Error::other(format!(
            "the admin interface's task failed: {e}"
        )))),
    }
}
