//! `ecs-control-plane` binary: parse the CLI, set up logging, serve until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ecs_control_plane::{Config, Keys};
use tokio_util::sync::CancellationToken;

/// mimalloc rather than glibc's malloc: the emulator allocates many small, short-lived JSON
/// values per request, where glibc's allocator cost about a sixth of its CPU (BENCHMARKS.md,
/// control plane run 8). The agent keeps the system allocator (its memory, not its speed, is
/// what matters there).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An emulated Amazon ECS control plane (ECS API and the ACS websocket) for local runs and tests.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on (every API and the websocket share it). Plain HTTP unless --tls;
    /// an address beyond loopback needs --tls or --insecure-listen.
    #[arg(long, default_value = ecs_control_plane::DEFAULT_LISTEN)]
    listen: String,
    /// Serve TLS (HTTPS and wss) on --listen, with --tls-cert/--tls-key or a certificate of
    /// the emulator's own CA (kept in <data-dir>/tls/ca.pem; see --tls-ca-out).
    #[arg(long)]
    tls: bool,
    /// The TLS certificate chain (PEM) for --tls and --fleet's gateway, instead of the own CA's;
    /// end it with the issuing CA's certificate: instances trust the whole file.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Also write the certificate TLS clients must trust (the own CA's, or --tls-cert) to this
    /// file, e.g. for AWS_CA_BUNDLE.
    #[arg(long)]
    tls_ca_out: Option<PathBuf>,
    /// A name (DNS name or address) the own CA's server certificate also covers, e.g. the
    /// address agents use for a --listen on 0.0.0.0; repeatable.
    #[arg(long)]
    tls_name: Vec<String>,
    /// Allow plain HTTP beyond loopback: on --listen, and on --fleet's gateway instead of TLS.
    /// ACS payloads carry task credentials: only on networks you trust.
    #[arg(long)]
    insecure_listen: bool,
    /// Directory for the state store; without it, state is kept in memory only.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Region of the emulated account.
    #[arg(long, default_value = ecs_control_plane::DEFAULT_REGION)]
    region: String,
    /// Emulated account id.
    #[arg(long, default_value = ecs_control_plane::DEFAULT_ACCOUNT_ID)]
    account_id: String,
    /// Access key id callers sign with.
    #[arg(long, env = "AWS_ACCESS_KEY_ID", default_value = ecs_control_plane::DEFAULT_ACCESS_KEY_ID, hide_env_values = true)]
    access_key_id: String,
    /// Secret access key callers sign with.
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", default_value = ecs_control_plane::DEFAULT_SECRET_ACCESS_KEY, hide_env_values = true, hide_default_value = true)]
    secret_access_key: String,
    /// ACS heartbeat interval in seconds.
    #[arg(long, default_value_t = 30)]
    heartbeat_seconds: u64,
    /// Log as JSON lines.
    #[arg(long)]
    log_json: bool,
    /// Emulate ECR: run a registry (Debian's docker-registry) on 127.0.0.1 behind the ECR API.
    #[arg(long)]
    ecr: bool,
    /// The registry binary for --ecr.
    #[arg(long, default_value = "docker-registry")]
    ecr_registry_bin: PathBuf,
    /// The registry's directory (config, htpasswd, storage, registry.log); default
    /// <data-dir>/ecr-registry, or a temporary directory without --data-dir.
    #[arg(long)]
    ecr_registry_dir: Option<PathBuf>,
    /// The registry's port on 127.0.0.1 (0: a free port).
    #[arg(long, default_value_t = 0)]
    ecr_registry_port: u16,
    /// Lifetime of ECR authorization tokens in seconds (ECR: 43200, 12 hours).
    #[arg(long, default_value_t = 43200)]
    ecr_token_seconds: u64,
    /// Lifetime of task IAM role credentials in seconds; they are refreshed (IAMRoleCredentialsMessage)
    /// when half of it is left.
    #[arg(long, default_value_t = 21_600)]
    role_credentials_seconds: u64,
    /// How often CloudWatch evaluates its alarms, in seconds.
    #[arg(long, default_value_t = 10)]
    alarm_evaluation_seconds: u64,
    /// How often the AWS/ECS CloudWatch metrics are computed, in seconds (ECS: 60).
    #[arg(long, default_value_t = 60)]
    ecs_metrics_seconds: u64,
    /// The emulated EC2's default VPC (a /16; one /20 subnet per zone), fixed when the data dir
    /// is first used. With --fleet it is also the instances' Docker network.
    #[arg(long, default_value = ecs_control_plane::DEFAULT_VPC_CIDR)]
    vpc_cidr: String,
    /// Run emulated EC2 instances (RunInstances) as containers of the local Docker Engine that
    /// boot systemd, their own Docker Engine and the agent's .deb, on a Docker network for the
    /// VPC; the API and the instance metadata service also listen on the network's gateway.
    #[arg(long)]
    fleet: bool,
    /// The Docker network of the VPC with --fleet (created when missing).
    #[arg(long, default_value = "ecs-agent-rs-vpc")]
    fleet_network: String,
    /// The instance metadata service's port on the VPC's gateway with --fleet (instances reach
    /// it as 169.254.169.254:80); keep it fixed so instances find it after a restart.
    #[arg(long, default_value_t = 8169)]
    imds_port: u16,
    /// The Docker container name prefix of instances with --fleet (`<prefix><instance id>`).
    #[arg(long, default_value = "ec2-")]
    fleet_name_prefix: String,
    /// A label (KEY=VALUE) put on the VPC's network and every instance's container and volume
    /// with --fleet; repeatable.
    #[arg(long, value_parser = parse_label)]
    fleet_label: Vec<(String, String)>,
    /// Serve the fault-injection admin interface (README, "Fault injection") on this loopback
    /// address, e.g. 127.0.0.1:4567; off when not given.
    #[arg(long)]
    admin_listen: Option<std::net::SocketAddr>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cli.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ecs-control-plane: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ecs-control-plane: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&cli.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e} (is another control plane running? choose another --listen)", cli.listen))?;
    let addr = listener.local_addr()?;
    let admin = match cli.admin_listen {
        Some(admin_addr) => {
            ecs_control_plane::faults::admin::check_loopback(admin_addr)?;
            Some(
                tokio::net::TcpListener::bind(admin_addr)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("cannot listen on --admin-listen {admin_addr}: {e}")
                    })?,
            )
        }
        None => None,
    };
    let fleet = if cli.fleet {
        let host = ecs_control_plane::ec2::docker_host::DockerHost::connect()
            .await
            .map_err(|e| anyhow::anyhow!("--fleet: {e}"))?
            .with_name_prefix(cli.fleet_name_prefix.clone());
        Some(ecs_control_plane::FleetOptions {
            host: std::sync::Arc::new(host),
            network: cli.fleet_network.clone(),
            imds_port: cli.imds_port,
            labels: cli.fleet_label.iter().cloned().collect(),
        })
    } else {
        None
    };
    let config = Config {
        fleet,
        region: cli.region,
        account_id: cli.account_id,
        keys: Keys::new(&cli.access_key_id, &cli.secret_access_key),
        data_dir: cli.data_dir,
        heartbeat_interval: std::time::Duration::from_secs(cli.heartbeat_seconds.max(1)),
        ecr: cli.ecr.then(|| ecs_control_plane::EcrOptions {
            registry_bin: cli.ecr_registry_bin.clone(),
            registry_dir: cli.ecr_registry_dir.clone(),
            registry_port: cli.ecr_registry_port,
            token_lifetime: std::time::Duration::from_secs(cli.ecr_token_seconds.max(1)),
        }),
        role_credentials_lifetime: std::time::Duration::from_secs(
            cli.role_credentials_seconds.max(2),
        ),
        alarm_evaluation_interval: std::time::Duration::from_secs(
            cli.alarm_evaluation_seconds.max(1),
        ),
        ecs_metrics_interval: std::time::Duration::from_secs(cli.ecs_metrics_seconds.max(1)),
        vpc_cidr: cli.vpc_cidr,
        tls: ecs_control_plane::TlsOptions {
            listen_tls: cli.tls,
            source: match (cli.tls_cert, cli.tls_key) {
                (Some(cert), Some(key)) => {
                    ecs_control_plane::front::tls::CertSource::Files { cert, key }
                }
                _ => ecs_control_plane::front::tls::CertSource::OwnCa,
            },
            ca_out: cli.tls_ca_out,
            names: cli.tls_name,
            insecure: cli.insecure_listen,
        },
        ..Config::default()
    };
    tracing::info!(%addr, region = %config.region, account = %config.account_id, data_dir = ?config.data_dir, "listening");
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
        signal.cancel();
    });
    ecs_control_plane::serve_with_admin(listener, admin, config, shutdown).await?;
    Ok(())
}
