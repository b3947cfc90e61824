//! Starting and stopping the agent: the reference's startup sequence (section 2.1, without the
//! EC2-only steps), then the components under one shutdown token. SIGTERM leaves task containers
//! running and exits 0, as the reference does.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ecs_config::Config;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::control::{
    AcsEvent, AcsExit, AcsParams, ApiVersion, ControlError, EcsApi,
    INACTIVE_INSTANCE_RECONNECT_DELAY, Registration, capabilities, host_resources, run_acs,
};
use crate::engine::{Engine, EngineSettings, ReportError, Reporter, Shared};
use crate::exit::AgentError;
use crate::introspection::{self, Introspection};
use crate::ports::PortAllocator;
use crate::retry::RetryPolicy;
use crate::runtime::docker::DockerRuntime;
use crate::runtime::{BoxFuture, ContainerRuntime};
use crate::state::{META_CLUSTER, META_INSTANCE_ARN, Store};
use crate::state_change::TaskStateChange;

/// Options that are not part of the ECS configuration.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Introspection listen address (default `127.0.0.1:51678`, or `0.0.0.0:51678` with off-host
    /// access allowed).
    pub introspection_listen: Option<String>,
    /// Overrides ECS_IMAGE_CLEANUP_INTERVAL below its 10-minute floor (tests).
    pub image_cleanup_interval: Option<Duration>,
    /// Task credentials and metadata listen address (default `127.0.0.1:51679`).
    pub credentials_listen: Option<String>,
}

/// Reports through the ECS API.
struct EcsReporter {
    api: Arc<EcsApi>,
}

impl Reporter for EcsReporter {
    fn submit<'a>(&'a self, change: &'a TaskStateChange) -> BoxFuture<'a, Result<(), ReportError>> {
        Box::pin(async move {
            match self.api.submit_task_state_change(change).await {
                Ok(()) => Ok(()),
                Err(ControlError::InvalidParameter(e)) => Err(ReportError::Refused(e)),
                Err(e) => Err(ReportError::Transient(e.to_string())),
            }
        })
    }
}

/// Runs the agent until `shutdown` (a signal) or a terminal error.
pub async fn run(
    config: Arc<Config>,
    options: RunOptions,
    shutdown: CancellationToken,
) -> Result<(), AgentError> {
    // On EC2: the instance identity (sent at registration) and, when none is configured, the
    // region from it, as the reference asks instance metadata.
    let identity = if crate::control::imds::wanted(&config) {
        let client = crate::control::imds::client(&crate::proxy::Proxies::from_config(&config));
        crate::control::imds::fetch(&client, crate::control::imds::BUDGET).await
    } else {
        None
    };
    let config = match identity.as_ref().and_then(|i| i.region.clone()) {
        Some(region) if config.region().is_none() => {
            tracing::info!(%region, "region from the instance identity document");
            let mut with_region = (*config).clone();
            with_region.aws_default_region.value = Some(region);
            Arc::new(with_region)
        }
        _ => config,
    };
    config.validate_for_run().map_err(AgentError::Config)?;

    // Docker first: nothing works without it.
    let runtime = DockerRuntime::connect(&config.docker_host.value)
        .await
        .map_err(|e| {
            if e.is_terminal() {
                AgentError::DockerTooOld(e.to_string())
            } else {
                AgentError::Docker(e.to_string())
            }
        })?;
    let version = runtime
        .version()
        .await
        .map_err(|e| AgentError::Docker(e.to_string()))?;
    let api_version: ApiVersion = version
        .api_version
        .parse()
        .map_err(|e: String| AgentError::Docker(e))?;
    if api_version < ApiVersion::new(1, 21) {
        return Err(AgentError::DockerTooOld(version.api_version));
    }
    tracing::info!(docker = %version.version, api = %version.api_version, "connected to Docker");
    let runtime =
        Arc::new(runtime.with_timeouts(crate::runtime::docker::Timeouts::from_config(&config)));

    let store = Arc::new(Store::for_config(&config).map_err(|e| AgentError::State(e.to_string()))?);
    let cluster = config.cluster.value.clone();
    if let Some(saved) = store
        .meta(META_CLUSTER)
        .map_err(|e| AgentError::State(e.to_string()))?
        && saved != cluster
    {
        return Err(AgentError::ClusterMismatch {
            saved,
            configured: cluster,
        });
    }

    // Introspection answers from the start (ContainerInstanceArn null until registered).
    let (arn_tx, arn_rx) = watch::channel(None::<String>);
    let (engine_tx, engine_rx) = watch::channel(None);
    let listen = options.introspection_listen.clone().unwrap_or_else(|| {
        if config.allow_offhost_introspection_access.value {
            "0.0.0.0:51678".into()
        } else {
            "127.0.0.1:51678".into()
        }
    });
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| AgentError::Listen(listen.clone(), "not an address".into()))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| AgentError::Listen(listen.clone(), e.to_string()))?;
    let tracker = tokio_util::task::TaskTracker::new();
    let intro_state = Introspection {
        cluster: cluster.clone(),
        instance_arn: arn_rx,
        engine: engine_rx,
        runtime_stats: config.enable_runtime_stats.value,
    };
    if let Some(path) = crate::runtime_stats::stats_file(&config) {
        // Same size rule as the agent's log; the reference keeps 3 rolled files.
        let max_bytes = (config.log_max_file_size_mb.value * 1_000_000.0) as u64;
        tracker.spawn(crate::runtime_stats::run_logger(
            path,
            max_bytes,
            crate::runtime_stats::INTERVAL,
            shutdown.clone(),
        ));
    }
    let intro_shutdown = shutdown.clone();
    tracker.spawn(async move {
        if let Err(e) = introspection::serve(listener, intro_state, intro_shutdown).await {
            tracing::error!(error = %e, "introspection server failed");
        }
    });

    // The metrics collector, once started, for task metadata `/stats` and Prometheus.
    let (stats_tx, stats_rx) = watch::channel(None::<crate::stats::StatsHandle>);
    // Task credentials and metadata: saved tasks' credential ids answer 503 until ACS resends.
    let task_iam = crate::endpoint::task_iam(&store).map_err(AgentError::State)?;
    let (tags_tx, tags_rx) = watch::channel(None);
    let endpoint = crate::endpoint::start(
        crate::endpoint::StartParams {
            config: &config,
            listen: options.credentials_listen.clone(),
            task_iam: &task_iam,
            instance_arn: arn_tx.subscribe(),
            engine: engine_tx.subscribe(),
            tags: tags_rx,
            stats: stats_tx.subscribe(),
        },
        Arc::clone(&runtime) as Arc<dyn ContainerRuntime>,
        shutdown.clone(),
    )
    .await
    .map_err(|(addr, e)| AgentError::Listen(addr, e))?;
    tracker.spawn(endpoint);

    let api = Arc::new(EcsApi::new(&config).map_err(AgentError::from_control)?);
    let _ = tags_tx.send(Some(Arc::clone(&api) as Arc<dyn crate::endpoint::TagSource>));
    let host = host_resources().map_err(AgentError::from_control)?;
    let saved_arn = store
        .meta(META_INSTANCE_ARN)
        .map_err(|e| AgentError::State(e.to_string()))?;
    let mut registration = Registration::new(
        &config,
        &host,
        capabilities(&config, api_version),
        saved_arn,
    )
    .map_err(AgentError::from_control)?;
    let instance_id = identity.as_ref().and_then(|i| i.instance_id.clone());
    if let Some(identity) = identity {
        registration.identity_document = identity.document;
        registration.identity_signature = identity.signature;
    }
    if config.warm_pools_check.value && crate::control::imds::wanted(&config) {
        let client = crate::control::imds::client(api.proxies());
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            r = crate::control::imds::wait_in_service(
                || crate::control::imds::target_lifecycle_state(&client),
                crate::control::imds::LIFECYCLE_POLL,
                crate::control::imds::LIFECYCLE_MAX_ABSENT,
            ) => r.map_err(|e| AgentError::Control(e, true))?,
        }
    }
    if config.container_instance_propagate_tags_from.value
        == ecs_config::PropagateTagsFrom::Ec2Instance
    {
        let id = instance_id.ok_or_else(|| {
            AgentError::Control(
                "ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM=ec2_instance: no instance id from instance metadata".into(),
                false,
            )
        })?;
        let aws = crate::aws_json::AwsAccess::from_config(&config)
            .with_proxies(Arc::clone(api.proxies()));
        let ec2 = crate::control::ec2_tags::fetch(&aws, &api.credentials_provider(), &id)
            .await
            .map_err(|e| AgentError::Control(e, false))?;
        tracing::info!(count = ec2.len(), "tags of the EC2 instance to register");
        registration.tags = crate::control::ec2_tags::merge(&registration.tags, ec2);
    }
    let arn = tokio::select! {
        () = shutdown.cancelled() => return Ok(()),
        r = api.register(&registration) => r.map_err(AgentError::from_control)?,
    };
    store
        .set_meta(META_INSTANCE_ARN, &arn)
        .and_then(|()| store.set_meta(META_CLUSTER, &cluster))
        .map_err(|e| AgentError::State(e.to_string()))?;
    tracing::info!(container_instance = %arn, cluster = %cluster, "registered");
    let _ = arn_tx.send(Some(arn.clone()));
    // systemd (Type=notify): ready once registered, as the unit expects.
    crate::notify::ready();
    if config.enable_spot_instance_draining.value && crate::control::imds::wanted(&config) {
        tracker.spawn(crate::control::spot::drain_on_interruption(
            crate::control::imds::client(api.proxies()),
            Arc::clone(&api),
            cluster.clone(),
            arn.clone(),
            shutdown.clone(),
        ));
    }

    // One endpoint, region and client for every call the agent makes itself (secrets, env
    // files, registry credentials); the client is made at the first of them.
    let aws =
        crate::aws_json::AwsAccess::from_config(&config).with_proxies(Arc::clone(api.proxies()));
    let secrets = crate::secrets::SecretsFetcher::new(aws.clone());
    let images = Arc::new(
        crate::images::Images::new(
            &config,
            api.credentials_provider(),
            Some(Arc::clone(&store)),
        )
        .with_secrets(secrets.clone())
        .with_proxies(Arc::clone(api.proxies())),
    );
    let shared = Arc::new(Shared {
        runtime: Arc::clone(&runtime),
        store: Arc::clone(&store),
        reporter: Arc::new(EcsReporter {
            api: Arc::clone(&api),
        }),
        ports: Mutex::new(PortAllocator::from_config(&config)),
        config: Arc::clone(&config),
        settings: EngineSettings {
            stop_timeout: config.container_stop_timeout.value,
            cleanup_wait: config.engine_task_cleanup_wait_duration.value,
            cleanup_jitter: config.engine_task_cleanup_wait_duration_jitter.value,
            report_retry: RetryPolicy::SUBMIT_STATE_CHANGE,
        },
        images: Arc::clone(&images),
        task_iam: task_iam.clone(),
        secrets,
        env_files: crate::env_files::EnvFilesFetcher::new(aws),
        container_metadata: crate::container_metadata::MetadataFiles::from_config(&config, &arn),
    });
    let (engine, engine_run) =
        Engine::start(shared, shutdown.clone()).map_err(|e| AgentError::State(e.to_string()))?;
    let _ = engine_tx.send(Some(engine.clone()));
    tracker.spawn(engine_run);
    if !config.disable_image_cleanup.value {
        let settings = crate::images::cleanup::CleanupSettings::from_config(
            &config,
            options.image_cleanup_interval,
        );
        let cleanup_engine = engine.clone();
        tracker.spawn(crate::images::run_cleanup(
            images,
            Arc::clone(&runtime),
            move || {
                let engine = cleanup_engine.clone();
                async move { engine.images_in_use().await }
            },
            settings,
            shutdown.clone(),
        ));
    }

    let (acs_tx, mut acs_rx) = mpsc::channel::<AcsEvent>(16);
    let params = AcsParams {
        updates_enabled: config.updates_enabled.value,
        ..AcsParams::new(
            Arc::clone(&api),
            cluster.clone(),
            arn.clone(),
            version.version.clone(),
        )
    };
    // Container metrics and health go to ECS over the telemetry connection, as the reference
    // sends them; the session runs even with both off (the reference's idle metrics rounds).
    if config.enable_prometheus_metrics.value {
        let addr = crate::prometheus::listen_addr(&config);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| AgentError::Listen(addr.to_string(), e.to_string()))?;
        let sources = crate::prometheus::Sources {
            engine: engine_tx.subscribe(),
            stats: stats_rx,
        };
        let stop = shutdown.clone();
        tracker.spawn(async move {
            if let Err(e) = crate::prometheus::serve(listener, sources, stop).await {
                tracing::error!(error = %e, "Prometheus metrics server failed");
            }
        });
    }
    let stats = if config.disable_metrics.value {
        None
    } else {
        let (stats, collector) = crate::stats::start(
            Arc::clone(&runtime),
            engine.clone(),
            crate::stats::StatsSettings::from_config(&config),
            shutdown.clone(),
        );
        tracker.spawn(collector);
        let _ = stats_tx.send(Some(stats.clone()));
        Some(stats)
    };
    tracker.spawn(crate::control::run_telemetry(
        params.clone(),
        engine.clone(),
        crate::control::Telemetry {
            stats,
            health: !config.disable_docker_health_check.value,
        },
        shutdown.clone(),
    ));
    let acs_shutdown = shutdown.clone();
    let acs = tokio::spawn(async move {
        let mut params = params;
        loop {
            match run_acs(params.clone(), acs_tx.clone(), acs_shutdown.clone()).await {
                // As the reference: an inactive (deregistered) instance waits an hour, then retries.
                Ok(AcsExit::InactiveInstance) => {
                    tracing::warn!(
                        "the container instance is inactive; reconnecting in {:?}",
                        INACTIVE_INSTANCE_RECONNECT_DELAY
                    );
                    params.send_credentials = false;
                    tokio::select! {
                        () = acs_shutdown.cancelled() => return Ok(AcsExit::Shutdown),
                        () = tokio::time::sleep(INACTIVE_INSTANCE_RECONNECT_DELAY) => {}
                    }
                }
                other => return other,
            }
        }
    });
    let forward_engine = engine.clone();
    tracker.spawn(async move {
        while let Some(ev) = acs_rx.recv().await {
            match ev {
                AcsEvent::Payload { message, reply } => {
                    let tasks = crate::credentials::take_payload_credentials(
                        &task_iam.credentials,
                        message.tasks(),
                    );
                    let ok = forward_engine.payload(tasks).await;
                    let _ = reply.send(ok);
                }
                AcsEvent::Credentials { message, reply } => {
                    let ok = crate::credentials::refresh(&task_iam.credentials, &message);
                    let _ = reply.send(ok);
                }
                other => tracing::debug!(event = ?other, "ACS event"),
            }
        }
    });

    let result = match acs.await {
        Ok(Ok(AcsExit::Shutdown)) => Ok(()),
        Ok(Ok(other)) => Err(AgentError::Acs(format!("{other:?}"))),
        Ok(Err(e)) => Err(AgentError::from_control(e)),
        Err(e) => Err(AgentError::Acs(e.to_string())),
    };
    shutdown.cancel();
    tracker.close();
    if tokio::time::timeout(Duration::from_secs(20), tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("components did not stop within 20 s");
    }
    tracing::info!("agent stopped; task containers keep running");
    result
}
