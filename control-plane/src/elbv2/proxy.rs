//! The proxies: one accept loop per socket of the data plane, HTTP/1.1 (hyper, keep-alive) for
//! HTTP listeners and byte streams for TCP listeners. Each request reads the current [`Plan`]
//! (a watch channel the data plane publishes), picks its listener (by socket, or by Host on the
//! shared `127.0.0.1` socket of a port), its rule, its target group and its target, and
//! forwards it with `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Port`.
//!
//! Answers of the load balancer itself, as ALB gives them: 502 when the target refuses or
//! resets the connection, 503 when the target group has no registered target, 504 when the
//! target does not answer within the load balancer's idle timeout (other requests go on: each
//! is its own task). Fixed responses and redirects are answered here. Least outstanding
//! requests counts a request from its choice until its target's answer headers arrive.
//! A deregistered target takes no new requests; one still waiting for its answer when the
//! deregistration delay ends gets 502. Targets are spoken to in plain HTTP/1.1, HTTPS target
//! groups included. The idle timeout
//! bounds the wait for a target's answer; idle client connections are not closed by it.
//! Upgrades (websockets) and HTTP/2 are not carried.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::model::{ActionType, Protocol};
use super::plan::{Binding, GroupPlan, ListenerPlan, Plan, TargetPlan, XffMode};
use super::routing::{self, Candidate, RequestFacts};

type Body = BoxBody<Bytes, hyper::Error>;

/// The keep-alive connections one inbound connection holds to its targets, by address.
///
/// Requests on an HTTP/1.1 connection come one at a time, so each target connection carries one
/// request at a time without a pool shared between connections (a shared pool's lock and
/// bookkeeping were a cost on every request). A request takes its target's connection out of
/// the map and puts it back once the answer's headers are in; the lock is held for that map
/// operation only, never across an await. The connections close with the inbound one.
#[derive(Debug, Default)]
struct Upstreams(Mutex<HashMap<SocketAddr, SendRequest<Incoming>>>);

impl Upstreams {
    fn take(&self, addr: SocketAddr) -> Option<SendRequest<Incoming>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&addr)
    }

    fn put(&self, addr: SocketAddr, sender: SendRequest<Incoming>) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(addr, sender);
    }

    /// Sends `req` to `addr` on this connection's keep-alive connection to it, or a new one.
    async fn send(
        &self,
        addr: SocketAddr,
        req: Request<Incoming>,
    ) -> Result<Response<Incoming>, String> {
        let cached = match self.take(addr) {
            Some(mut s) => s.ready().await.is_ok().then_some(s),
            None => None,
        };
        let mut sender = match cached {
            Some(s) => s,
            None => connect(addr).await?,
        };
        let answer = sender.send_request(req).await.map_err(|e| e.to_string())?;
        self.put(addr, sender);
        Ok(answer)
    }
}

/// A new keep-alive connection to a target (10 s to connect, no Nagle delay).
async fn connect(addr: SocketAddr) -> Result<SendRequest<Incoming>, String> {
    let stream = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
        .await
        .map_err(|_| format!("connecting to {addr} timed out"))?
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// What every connection of one socket shares.
#[derive(Debug, Clone)]
pub struct Served {
    /// Who the socket serves.
    pub binding: Binding,
    /// The current plan.
    pub plan: watch::Receiver<Arc<Plan>>,
}

/// Accepts connections on `listener` until `stop` is cancelled (then its connections close too).
pub async fn serve(listener: TcpListener, served: Served, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off rather than spin on the error.
                tracing::warn!(error = %e, "elbv2 listener: accept failed");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let served = served.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let tcp = match &served.binding {
                Binding::Listener(arn) => served
                    .plan
                    .borrow()
                    .listeners
                    .get(arn)
                    .is_some_and(|l| l.protocol == Protocol::Tcp),
                Binding::SharedHttp(_) => false,
            };
            if tcp {
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = forward_stream(stream, &served) => {}
                }
            } else {
                serve_http(stream, peer, served, stop).await;
            }
        });
    }
}

async fn serve_http(stream: TcpStream, peer: SocketAddr, served: Served, stop: CancellationToken) {
    let local_port = stream.local_addr().map(|a| a.port()).unwrap_or(0);
    let served = Arc::new((served, Upstreams::default()));
    let service = hyper::service::service_fn(move |req| {
        let served = Arc::clone(&served);
        async move {
            let (served, upstreams) = &*served;
            Ok::<_, Infallible>(handle(served, upstreams, req, peer, local_port).await)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        () = stop.cancelled() => {}
        r = conn => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "elbv2 listener: connection ended");
            }
        }
    }
}

fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// An answer of the load balancer itself (502, 503, 504, ...), as ALB words it.
fn lb_answer(status: StatusCode) -> Response<Body> {
    let line = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    );
    let body = format!(
        "<html>\r\n<head><title>{line}</title></head>\r\n<body>\r\n<center><h1>{line}</h1></center>\r\n</body>\r\n</html>\r\n"
    );
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::SERVER, HeaderValue::from_static("awselb/2.0"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    r
}

async fn handle(
    served: &Served,
    upstreams: &Upstreams,
    req: Request<Incoming>,
    client: SocketAddr,
    local_port: u16,
) -> Response<Body> {
    let client_ip = client.ip();
    let plan = Arc::clone(&served.plan.borrow());
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or_default()
        .to_string();
    let listener = match &served.binding {
        Binding::Listener(arn) => plan.listeners.get(arn),
        Binding::SharedHttp(port) => plan.by_host(*port, &host),
    };
    let Some(listener) = listener else {
        return lb_answer(StatusCode::NOT_FOUND);
    };
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let rule = {
        let headers = |name: &str| -> Vec<String> {
            req.headers()
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_string))
                .collect()
        };
        let facts = RequestFacts {
            method: req.method().as_str(),
            path: &path,
            query: &query,
            host: &host,
            headers: &headers,
            source: client_ip,
        };
        routing::first_match(
            listener.rules.iter().map(|r| r.conditions.as_slice()),
            &facts,
        )
    };
    let Some(rule) = rule.and_then(|i| listener.rules.get(i)) else {
        return lb_answer(StatusCode::NOT_FOUND);
    };
    let action = &rule.action;
    match action.kind {
        ActionType::FixedResponse => {
            let Some(f) = &action.fixed_response_config else {
                return lb_answer(StatusCode::INTERNAL_SERVER_ERROR);
            };
            let mut r = Response::new(full(f.message_body.clone().unwrap_or_default()));
            *r.status_mut() =
                StatusCode::from_bytes(f.status_code.as_bytes()).unwrap_or(StatusCode::OK);
            let ct = f.content_type.as_deref().unwrap_or("text/plain");
            if let Ok(v) = HeaderValue::from_str(ct) {
                r.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            r.headers_mut()
                .insert(header::SERVER, HeaderValue::from_static("awselb/2.0"));
            r
        }
        ActionType::Redirect => {
            let Some(c) = &action.redirect_config else {
                return lb_answer(StatusCode::INTERNAL_SERVER_ERROR);
            };
            let location = routing::redirect_location(
                c,
                "http",
                routing::host_only(&host),
                listener.port,
                &path,
                &query,
            );
            let mut r = Response::new(full(Bytes::new()));
            *r.status_mut() = if c.status_code == "HTTP_301" {
                StatusCode::MOVED_PERMANENTLY
            } else {
                StatusCode::FOUND
            };
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r.headers_mut()
                .insert(header::SERVER, HeaderValue::from_static("awselb/2.0"));
            r
        }
        ActionType::Forward => {
            let Some(group) = pick_group(&plan, action) else {
                return lb_answer(StatusCode::SERVICE_UNAVAILABLE);
            };
            forward(upstreams, listener, group, req, client, local_port).await
        }
        ActionType::AuthenticateOidc | ActionType::AuthenticateCognito => {
            lb_answer(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// The target group of a forward action (weighted at random among several).
fn pick_group<'a>(plan: &'a Plan, action: &super::model::Action) -> Option<&'a GroupPlan> {
    let tuples = action
        .forward_config
        .as_ref()
        .map_or(&[][..], |f| f.target_groups.as_slice());
    match tuples {
        [] => plan.groups.get(action.target_group_arn.as_deref()?),
        [one] => plan.groups.get(&one.target_group_arn),
        several => {
            let weights: Vec<u32> = several
                .iter()
                .map(|t| u32::try_from(t.weight.unwrap_or(1)).unwrap_or(0))
                .collect();
            let i = routing::pick_weighted(&weights, rand::random::<u64>())?;
            plan.groups.get(&several[i].target_group_arn)
        }
    }
}

/// The target for the next request of `group`, if it has any (draining and unresolved ones
/// take none).
fn pick_target(group: &GroupPlan) -> Option<&TargetPlan> {
    let live: Vec<&TargetPlan> = group
        .targets
        .iter()
        .filter(|t| !t.draining && t.addr.is_some())
        .collect();
    let candidates: Vec<Candidate> = live
        .iter()
        .map(|t| Candidate {
            routable: t.slot.routable(),
            outstanding: t.slot.outstanding.load(Ordering::Relaxed),
        })
        .collect();
    let turn = group.turn.fetch_add(1, Ordering::Relaxed);
    routing::choose(&candidates, group.algorithm, turn).map(|i| live[i])
}

/// Decrements a target's requests in flight when dropped.
struct InFlight<'a>(&'a TargetPlan);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.slot.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
}

const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
];

async fn forward(
    upstreams: &Upstreams,
    listener: &ListenerPlan,
    group: &GroupPlan,
    req: Request<Incoming>,
    client: SocketAddr,
    local_port: u16,
) -> Response<Body> {
    let Some(target) = pick_target(group) else {
        return lb_answer(StatusCode::SERVICE_UNAVAILABLE);
    };
    let Some(addr) = target.addr else {
        return lb_answer(StatusCode::SERVICE_UNAVAILABLE);
    };
    target.slot.outstanding.fetch_add(1, Ordering::Relaxed);
    let _in_flight = InFlight(target);
    let (mut parts, body) = req.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    // HTTP/1.1 to the target: the request line carries the path and query only.
    let Ok(uri) = path_and_query.parse() else {
        return lb_answer(StatusCode::BAD_REQUEST);
    };
    parts.uri = uri;
    if !parts.headers.contains_key(header::HOST)
        && let Ok(v) = HeaderValue::from_str(&addr.to_string())
    {
        parts.headers.insert(header::HOST, v);
    }
    parts.version = hyper::Version::HTTP_11;
    let h = &mut parts.headers;
    for name in HOP_BY_HOP {
        h.remove(name);
    }
    let xff_name = HeaderName::from_static("x-forwarded-for");
    match listener.xff {
        XffMode::Preserve => {}
        XffMode::Remove => {
            h.remove(&xff_name);
        }
        XffMode::Append { client_port } => {
            let me = if client_port {
                client.to_string()
            } else {
                client.ip().to_string()
            };
            let xff = match h.get(&xff_name).and_then(|v| v.to_str().ok()) {
                Some(prev) => format!("{prev}, {me}"),
                None => me,
            };
            if let Ok(v) = HeaderValue::from_str(&xff) {
                h.insert(xff_name, v);
            }
        }
    }
    h.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static("http"),
    );
    h.insert(
        HeaderName::from_static("x-forwarded-port"),
        HeaderValue::from(if local_port == 0 {
            listener.port
        } else {
            local_port
        }),
    );
    let sent = upstreams.send(addr, Request::from_parts(parts, body));
    // The target's deregistration delay ending cuts a request still waiting for its answer.
    let answered = tokio::select! {
        a = tokio::time::timeout(listener.idle_timeout, sent) => a,
        () = target.slot.retired() => return lb_answer(StatusCode::BAD_GATEWAY),
    };
    match answered {
        Ok(Ok(answer)) => {
            // The load balancer answers HTTP/1.1 on its own connection with the client,
            // whatever the target spoke (an HTTP/1.0 target, `Connection: close`).
            let (mut parts, body) = answer.into_parts();
            parts.version = hyper::Version::HTTP_11;
            for name in HOP_BY_HOP {
                parts.headers.remove(name);
            }
            Response::from_parts(parts, body.boxed())
        }
        Ok(Err(e)) => {
            tracing::debug!(target = %addr, error = %e, "elbv2: target failed");
            lb_answer(StatusCode::BAD_GATEWAY)
        }
        Err(_) => lb_answer(StatusCode::GATEWAY_TIMEOUT),
    }
}

/// A TCP listener's connection: to a target of its default action's group, bytes both ways.
async fn forward_stream(mut inbound: TcpStream, served: &Served) {
    let target = {
        let plan = Arc::clone(&served.plan.borrow());
        let Binding::Listener(arn) = &served.binding else {
            return;
        };
        let Some(listener) = plan.listeners.get(arn) else {
            return;
        };
        let Some(rule) = listener.rules.last() else {
            return;
        };
        let Some(group) = pick_group(&plan, &rule.action) else {
            return;
        };
        pick_target(group).map(|t| (t.addr, Arc::clone(&t.slot)))
    };
    let Some((Some(addr), slot)) = target else {
        return;
    };
    slot.outstanding.fetch_add(1, Ordering::Relaxed);
    if let Ok(Ok(mut outbound)) =
        tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr)).await
    {
        let _ = outbound.set_nodelay(true);
        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
    }
    slot.outstanding.fetch_sub(1, Ordering::Relaxed);
}
