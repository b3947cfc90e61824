//! The introspection API (`:51678` by default, bound to localhost unless off-host access is opted
//! into): `/v1/metadata`, `/v1/tasks` (optionally `?taskarn=` or `?dockerid=`), `/license`, and
//! with `ECS_ENABLE_RUNTIME_STATS` the `/debug/pprof/` routes of [`crate::runtime_stats`]. Shapes as
//! the reference agent answers them. Read-only: it asks the engine for a snapshot.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::engine::EngineHandle;
use crate::state::TaskRecord;

/// The version string `/v1/metadata` reports.
pub fn version_string() -> String {
    crate::version::version_string()
}

/// What the introspection server serves.
#[derive(Debug, Clone)]
pub struct Introspection {
    /// Cluster name.
    pub cluster: String,
    /// Set once registered.
    pub instance_arn: watch::Receiver<Option<String>>,
    /// The engine, once it runs.
    pub engine: watch::Receiver<Option<EngineHandle>>,
    /// `ECS_ENABLE_RUNTIME_STATS`: serve the `/debug/pprof/` routes ([`crate::runtime_stats`]).
    pub runtime_stats: bool,
}

/// Serves until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    state: Introspection,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let profiling = state.runtime_stats;
    let mut app = Router::new()
        .route("/v1/metadata", get(metadata))
        .route("/v1/tasks", get(tasks))
        .route("/license", get(license))
        .with_state(Arc::new(state));
    if profiling {
        app = app.merge(crate::runtime_stats::routes());
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

async fn metadata(State(s): State<Arc<Introspection>>) -> Json<Value> {
    let arn = s.instance_arn.borrow().clone();
    Json(json!({
        "Cluster": s.cluster,
        "ContainerInstanceArn": arn,
        "Version": version_string(),
    }))
}

async fn license() -> &'static str {
    "Licensed under the Apache License, Version 2.0 (the \"License\").\nThis product is a wire-compatible reimplementation of the Amazon ECS container agent.\n"
}

fn task_response(r: &TaskRecord) -> Value {
    let containers: Vec<Value> = r
        .containers
        .iter()
        .map(|c| {
            let ports: Vec<Value> = c
                .ports
                .iter()
                .map(|p| {
                    json!({
                        "ContainerPort": p.container_port,
                        "Protocol": match p.protocol { crate::runtime::Protocol::Tcp => "tcp", crate::runtime::Protocol::Udp => "udp" },
                        "HostPort": p.host_port,
                    })
                })
                .collect();
            json!({
                "DockerId": c.docker_id.clone().unwrap_or_default(),
                "DockerName": c.docker_name.clone().unwrap_or_default(),
                "Name": c.name,
                "Ports": ports,
                "Networks": [],
                "Volumes": [],
                "RestartCount": c.restart_count,
            })
        })
        .collect();
    json!({
        "Arn": r.arn(),
        "DesiredStatus": if r.desired_stopped { "STOPPED" } else { "RUNNING" },
        "KnownStatus": r.known.as_str(),
        "Family": r.task.family.clone().unwrap_or_default(),
        "Version": r.task.version.clone().unwrap_or_default(),
        "Containers": containers,
    })
}

fn not_found(what: &str) -> Response {
    (StatusCode::NOT_FOUND, Json(json!(what))).into_response()
}

async fn tasks(
    State(s): State<Arc<Introspection>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let engine = s.engine.borrow().clone();
    let records = match engine {
        Some(e) => e.snapshot().await,
        None => Vec::new(),
    };
    match (q.get("taskarn"), q.get("dockerid")) {
        (Some(_), Some(_)) => (
            StatusCode::BAD_REQUEST,
            Json(json!("Request contains both taskarn and dockerid")),
        )
            .into_response(),
        (Some(arn), None) => match records.iter().find(|r| r.arn() == arn) {
            Some(r) => Json(task_response(r)).into_response(),
            None => not_found(&format!("Unable to find task '{arn}'")),
        },
        (None, Some(id)) => {
            let matches: Vec<&TaskRecord> = records
                .iter()
                .filter(|r| {
                    r.containers.iter().any(|c| {
                        c.docker_id
                            .as_deref()
                            .is_some_and(|d| !id.is_empty() && d.starts_with(id.as_str()))
                    })
                })
                .collect();
            match matches.as_slice() {
                [one] => Json(task_response(one)).into_response(),
                [] => not_found(&format!("Unable to find task for container '{id}'")),
                _ => (
                    StatusCode::BAD_REQUEST,
                    Json(json!(format!("Multiple tasks found for container '{id}'"))),
                )
                    .into_response(),
            }
        }
        (None, None) => {
            let all: Vec<Value> = records.iter().map(task_response).collect();
            Json(json!({ "Tasks": all })).into_response()
        }
    }
}

/// Asks `/v1/metadata` at `addr` (`host:port`) with a deadline; Ok with the instance ARN when the
/// agent answers and is registered, Err with why not.
pub fn check_health(addr: &str, timeout: std::time::Duration) -> Result<String, String> {
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;
    let sock = addr
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr} has no address"))?;
    let mut stream = std::net::TcpStream::connect_timeout(&sock, timeout)
        .map_err(|e| format!("the agent does not answer on {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET /v1/metadata HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("cannot ask {addr}: {e}"))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("no answer from {addr}: {e}"))?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| "malformed answer".to_string())?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!(
            "answered {}",
            head.lines().next().unwrap_or_default()
        ));
    }
    let v: Value = serde_json::from_str(body.trim()).map_err(|e| format!("bad JSON: {e}"))?;
    v["ContainerInstanceArn"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| "the agent is not registered yet".to_string())
}

#[cfg(test)]
mod tests {
    //! The `/debug/pprof/` routes of [`crate::runtime_stats`], on and off, through the server.
    use super::*;
    use pprof::protos::Message as _;

    async fn start_server(enabled: bool) -> (String, CancellationToken) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (_arn_tx, arn_rx) = tokio::sync::watch::channel(None);
        let (_engine_tx, engine_rx) = tokio::sync::watch::channel(None);
        let state = Introspection {
            cluster: "c".into(),
            instance_arn: arn_rx,
            engine: engine_rx,
            runtime_stats: enabled,
        };
        let shutdown = CancellationToken::new();
        tokio::spawn(super::serve(listener, state, shutdown.clone()));
        (format!("http://{addr}"), shutdown)
    }

    /// GET `url`: status and body.
    async fn get(url: &str) -> (u16, Vec<u8>) {
        use http_body_util::BodyExt as _;
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Empty<hyper::body::Bytes>>();
        let response = client.get(url.parse().unwrap()).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, body.to_vec())
    }

    #[tokio::test]
    async fn off_the_pprof_routes_are_not_found() {
        let (base, shutdown) = start_server(false).await;
        for path in ["/debug/pprof/", "/debug/pprof/profile?seconds=1"] {
            assert_eq!(get(&format!("{base}{path}")).await.0, 404, "{path}");
        }
        // The rest of the introspection API is there.
        assert_eq!(get(&format!("{base}/v1/metadata")).await.0, 200);
        shutdown.cancel();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_a_cpu_profile_is_served_in_pprof_protobuf_one_at_a_time() {
        let (base, shutdown) = start_server(true).await;
        let (status, index) = get(&format!("{base}/debug/pprof/")).await;
        assert_eq!(status, 200);
        assert!(String::from_utf8_lossy(&index).contains("profile"));
        assert_eq!(
            get(&format!("{base}/debug/pprof/profile?seconds=ten"))
                .await
                .0,
            400
        );

        // Something to sample while the profile runs.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spinner = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
                x
            })
        };
        // Two at once: whichever takes the profiler first runs for 2 s, the other is refused.
        let url = format!("{base}/debug/pprof/profile?seconds=2");
        let (a, b) = tokio::join!(get(&url), get(&url));
        let (refused, (status, body)) = if a.0 == 409 { (a, b) } else { (b, a) };
        assert_eq!(refused.0, 409, "{}", String::from_utf8_lossy(&refused.1));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        spinner.join().unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let profile = pprof::protos::Profile::decode(body.as_slice()).unwrap();
        let strings = &profile.string_table;
        assert_eq!(strings.first().map(String::as_str), Some(""));
        let sample_type = profile.sample_type.first().unwrap();
        assert_eq!(strings[sample_type.ty as usize], "samples");
        let period_type = profile.period_type.as_ref().unwrap();
        assert_eq!(strings[period_type.ty as usize], "cpu");
        assert_eq!(strings[period_type.unit as usize], "nanoseconds");
        assert!(profile.period > 0);
        assert!(
            profile.duration_nanos >= 2_000_000_000,
            "{}",
            profile.duration_nanos
        );
        assert!(!profile.sample.is_empty(), "no samples");
        shutdown.cancel();
    }
}
