#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Replays the requests recorded from the reference Go agent 1.105.1 (shared/reference/go-agent-wire)
//! byte for byte against the emulator: their SigV4 signatures must verify (clock-skew check off, they
//! are from the past), the answers must be what the reference agent needs, and any change to a signed
//! header or the body must be refused.

mod common;

use std::time::Duration;

use ecs_control_plane::{Config, serve};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

struct Recorded {
    kind: String,
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    body: String,
}

fn recorded() -> Vec<Recorded> {
    include_str!("fixtures/requests.raw.jsonl")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            Recorded {
                kind: v["kind"].as_str().unwrap().to_string(),
                method: v["method"].as_str().unwrap().to_string(),
                path: v["path"].as_str().unwrap().to_string(),
                query: v["query"].as_str().map(String::from),
                headers: v["headers"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect(),
                body: v["body"].as_str().unwrap_or_default().to_string(),
            }
        })
        .collect()
}

async fn start() -> (String, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let token = CancellationToken::new();
    let config = Config {
        max_skew: None,
        ..Config::default()
    };
    let t = token.clone();
    tokio::spawn(async move { serve(listener, config, t).await.unwrap() });
    (addr, token)
}

/// Sends a raw HTTP/1.1 request; returns (status, body). Reads until the server closes or, for an
/// upgrade, until the end of the response head.
async fn raw(addr: &str, r: &Recorded, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let target = match &r.query {
        Some(q) => format!("{}?{}", r.path, q),
        None => r.path.clone(),
    };
    let mut req = format!("{} {} HTTP/1.1\r\n", r.method, target);
    for (k, v) in &r.headers {
        if k.eq_ignore_ascii_case("content-length") {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        } else {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    if r.kind == "http" {
        req.push_str("Connection: close\r\n");
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk))
            .await
            .expect("response within 10 s")
            .unwrap();
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if r.kind != "http" && buf.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn json_body(body: &str) -> Value {
    // Responses are not chunked here (Connection: close), but tolerate a chunked framing.
    serde_json::from_str(body)
        .or_else(|_| {
            let inner: String = body.lines().filter(|l| l.starts_with('{')).collect();
            serde_json::from_str(&inner)
        })
        .unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[tokio::test]
async fn recorded_agent_requests_get_the_answers_the_agent_needs() {
    let (addr, token) = start().await;
    let all = recorded();
    // API calls first (in recorded order), so the instance the upgrades name exists.
    for r in all.iter().filter(|r| r.kind == "http") {
        let (status, body) = raw(&addr, r, &r.body).await;
        assert_eq!(status, 200, "{} -> {body}", r.path);
        let resp = json_body(&body);
        let sent: Value = serde_json::from_str(&r.body).unwrap();
        let target = r
            .headers
            .iter()
            .find(|(k, _)| k == "X-Amz-Target")
            .map(|(_, v)| v.as_str())
            .unwrap();
        match target.rsplit('.').next().unwrap() {
            "RegisterContainerInstance" => {
                let attrs = resp["containerInstance"]["attributes"].as_array().unwrap();
                for a in sent["attributes"].as_array().unwrap() {
                    assert!(
                        attrs
                            .iter()
                            .any(|x| x["name"] == a["name"] && x.get("value") == a.get("value")),
                        "attribute {a} not echoed"
                    );
                }
                assert!(attrs.iter().any(|x| x["name"] == "ecs.availability-zone"));
                if let Some(arn) = sent.get("containerInstanceArn") {
                    assert_eq!(&resp["containerInstance"]["containerInstanceArn"], arn);
                }
            }
            "DiscoverPollEndpoint" => {
                assert_eq!(resp["endpoint"], "http://127.0.0.1:18080");
                assert_eq!(resp["telemetryEndpoint"], "http://127.0.0.1:18080");
            }
            "SubmitTaskStateChange" => assert!(resp["acknowledgment"].is_string()),
            other => panic!("unexpected recorded operation {other}"),
        }
    }
    for r in all.iter().filter(|r| r.kind == "ws-upgrade") {
        let (status, body) = raw(&addr, r, "").await;
        assert_eq!(status, 101, "upgrade {:?} -> {body}", r.query);
    }
    token.cancel();
}

#[tokio::test]
async fn tampered_recorded_requests_are_refused() {
    let (addr, token) = start().await;
    let all = recorded();
    let first = all.iter().find(|r| r.kind == "http").unwrap();

    // A changed body.
    let body = first.body.replacen("\"CPU\"", "\"CPU \"", 1);
    let (status, resp) = raw(&addr, first, &body).await;
    assert_eq!(status, 403, "{resp}");
    assert_eq!(json_body(&resp)["__type"], "InvalidSignatureException");

    // A changed signed header.
    let mut changed = clone(first);
    for (k, v) in &mut changed.headers {
        if k == "Amz-Sdk-Request" {
            *v = "attempt=2; max=3".into();
        }
    }
    let (status, resp) = raw(&addr, &changed, &changed.body).await;
    assert_eq!(status, 403, "{resp}");

    // An unknown key.
    let mut unknown = clone(first);
    for (k, v) in &mut unknown.headers {
        if k == "Authorization" {
            *v = v.replace("AKIAIOSFODNN7EXAMPLE", "AKIAUNKNOWNKEY000000");
        }
    }
    let (status, resp) = raw(&addr, &unknown, &unknown.body).await;
    assert_eq!(status, 403, "{resp}");
    assert_eq!(json_body(&resp)["__type"], "UnrecognizedClientException");

    // No signature at all.
    let mut unsigned = clone(first);
    unsigned.headers.retain(|(k, _)| k != "Authorization");
    let (status, resp) = raw(&addr, &unsigned, &unsigned.body).await;
    assert_eq!(status, 403, "{resp}");
    assert_eq!(
        json_body(&resp)["__type"],
        "MissingAuthenticationTokenException"
    );

    // A websocket upgrade with a changed query.
    let ws = all.iter().find(|r| r.kind == "ws-upgrade").unwrap();
    let mut q = clone(ws);
    q.query = q.query.map(|s| s.replace("seqNum=1", "seqNum=2"));
    let (status, _) = raw(&addr, &q, "").await;
    assert_eq!(status, 403);
    token.cancel();
}

#[tokio::test]
async fn recorded_requests_are_refused_with_the_clock_skew_check_on() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move { serve(listener, Config::default(), t).await.unwrap() });
    let all = recorded();
    let first = all.iter().find(|r| r.kind == "http").unwrap();
    // The recordings are from 2026-11-22 03:12 UTC; only a machine whose clock is within 15 minutes
    // of that would accept them.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if now.abs_diff(1_795_317_133) > 15 * 60 {
        let (status, resp) = raw(&addr, first, &first.body).await;
        assert_eq!(status, 403, "{resp}");
        assert!(resp.contains("Signature expired"), "{resp}");
    }
    token.cancel();
}

fn clone(r: &Recorded) -> Recorded {
    Recorded {
        kind: r.kind.clone(),
        method: r.method.clone(),
        path: r.path.clone(),
        query: r.query.clone(),
        headers: r.headers.clone(),
        body: r.body.clone(),
    }
}

/// ACS answers the agent's close frame with one (the reference agent's gorilla websocket and ours
/// both wait for it before dropping the connection).
#[tokio::test]
async fn an_acs_close_frame_is_answered() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    let (addr, token) = start().await;
    let all = recorded();
    for r in all.iter().filter(|r| r.kind == "http") {
        assert_eq!(raw(&addr, r, &r.body).await.0, 200);
    }
    let acs = all
        .iter()
        .find(|r| {
            r.kind == "ws-upgrade" && r.query.as_deref().is_some_and(|q| q.contains("seqNum"))
        })
        .unwrap();
    let host = &acs.headers.iter().find(|(k, _)| k == "Host").unwrap().1;
    let mut request = http::Request::builder().uri(format!(
        "ws://{host}{}?{}",
        acs.path,
        acs.query.as_deref().unwrap()
    ));
    for (k, v) in &acs.headers {
        request = request.header(k, v);
    }
    let stream = TcpStream::connect(&addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(request.body(()).unwrap(), stream)
        .await
        .unwrap();
    ws.close(None).await.unwrap();
    let mut answered = false;
    while let Some(msg) = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("the connection ended in time")
    {
        match msg {
            Ok(Message::Close(_)) => answered = true,
            Ok(_) => {}
            Err(e) => panic!("the close was not answered: {e}"),
        }
    }
    assert!(answered, "no close frame from ACS");
    token.cancel();
}

/// The reference agent 1.105.0's whole run against this emulator
/// (`fixtures/against-emulator.go.jsonl`): its agent-to-control-plane lines.
fn go_run() -> Vec<Value> {
    include_str!("fixtures/against-emulator.go.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["dir"] == "agent->cp")
        .collect()
}

/// A recorded `http_request` line as a [`Recorded`] request.
fn from_line(v: &Value) -> Recorded {
    let target = v["target"].as_str().unwrap();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    };
    Recorded {
        kind: if v["ws"].is_string() {
            "ws-upgrade"
        } else {
            "http"
        }
        .to_string(),
        method: v["method"].as_str().unwrap().to_string(),
        path,
        query,
        headers: v["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h[0].as_str().unwrap().to_string(),
                    h[1].as_str().unwrap().to_string(),
                )
            })
            .collect(),
        body: v["body"].as_str().unwrap_or_default().to_string(),
    }
}

/// SigV4 headers for a request signed now with the example keys, service `ecs`.
fn sign_now(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;
    let identity = aws_credential_types::Credentials::new(
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        None,
        None,
        "test",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("ecs")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut all: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (k, v) in instructions.headers() {
        all.push((k.to_string(), v.to_string()));
    }
    all
}

/// CreateCluster `name`, signed now (the recording's driver made its cluster with the AWS CLI,
/// which the proxy did not see).
async fn create_cluster(addr: &str, name: &str) {
    let body = format!("{{\"clusterName\":\"{name}\"}}");
    let mut headers = sign_now(
        "POST",
        &format!("http://{addr}/"),
        &[
            ("host", addr),
            ("content-type", "application/x-amz-json-1.1"),
            (
                "x-amz-target",
                "AmazonEC2ContainerServiceV20141113.CreateCluster",
            ),
        ],
        &body,
    );
    headers.push(("content-length".into(), body.len().to_string()));
    let request = Recorded {
        kind: "http".into(),
        method: "POST".into(),
        path: "/".into(),
        query: None,
        headers,
        body: body.clone(),
    };
    let (status, answer) = raw(addr, &request, &body).await;
    assert_eq!(status, 200, "CreateCluster: {answer}");
}

/// Every request and ACS frame the reference agent sent in its run against the emulator, replayed
/// byte for byte (TCS frames: tcs_replay.rs): each API call is answered 200 as then (the
/// registration with its `clientToken`, DiscoverPollEndpoint with the address the agent called,
/// nine task state changes for tasks this emulator never ran, acknowledged), every upgrade is
/// accepted, and ACS takes every frame (acks for payloads it never sent, heartbeat and credential
/// acks) without closing the connection, then answers a close.
#[tokio::test]
async fn the_reference_agents_run_against_the_emulator_replays() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let (addr, token) = start().await;
    create_cluster(&addr, "wire-go").await;
    let lines = go_run();
    let mut calls = 0;
    let mut instance = None;
    for v in lines
        .iter()
        .filter(|v| v["kind"] == "http_request" && !v["ws"].is_string())
    {
        let r = from_line(v);
        let (status, body) = raw(&addr, &r, &r.body).await;
        let op = v["x_amz_target"]
            .as_str()
            .unwrap()
            .rsplit('.')
            .next()
            .unwrap();
        assert_eq!(status, 200, "{op} -> {body}");
        let resp = json_body(&body);
        match op {
            "RegisterContainerInstance" => {
                instance = resp["containerInstance"]["containerInstanceArn"]
                    .as_str()
                    .map(String::from);
            }
            "DiscoverPollEndpoint" => assert_eq!(resp["endpoint"], "http://127.0.0.1:43423"),
            "SubmitTaskStateChange" => assert!(resp["acknowledgment"].is_string(), "{body}"),
            other => panic!("unexpected recorded operation {other}"),
        }
        calls += 1;
    }
    assert_eq!(calls, 11);
    // The recorded upgrades name the instance the recording registered; this emulator registered
    // another (a new ARN). The signature covers the query, so the recorded ACS upgrade is checked
    // as verified and refused for its unknown instance (400, not 403), and the recorded frames go
    // over the same upgrade for this run's instance, signed now.
    let upgrades: Vec<&Value> = lines
        .iter()
        .filter(|v| v["kind"] == "http_request" && v["ws"].is_string())
        .collect();
    assert_eq!(upgrades.len(), 4, "one ACS and three TCS upgrades");
    let acs = from_line(upgrades.iter().find(|v| v["ws"] == "acs").unwrap());
    let (status, body) = raw(&addr, &acs, "").await;
    assert_eq!(status, 400, "the recorded ACS upgrade: {body}");
    let instance = instance.expect("the replayed registration's instance");
    let recorded_instance = acs
        .query
        .as_deref()
        .unwrap()
        .split('&')
        .find_map(|p| p.strip_prefix("containerInstanceArn="))
        .unwrap()
        .to_string();
    let query = acs.query.as_deref().unwrap().replace(
        &recorded_instance,
        &instance.replace(':', "%3A").replace('/', "%2F"),
    );
    let url = format!("http://{addr}{}?{query}", acs.path);
    let mut request = format!("ws://{addr}{}?{query}", acs.path)
        .into_client_request()
        .unwrap();
    for (k, v) in sign_now("GET", &url, &[("host", &addr)], "") {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(&v).unwrap(),
        );
    }
    let stream = TcpStream::connect(&addr).await.unwrap();
    let (mut ws, response) = tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap_or_else(|e| panic!("ACS upgrade for {instance}: {e}"));
    assert_eq!(response.status(), 101);
    let frames: Vec<&str> = lines
        .iter()
        .filter(|v| v["kind"] == "ws_frame" && v["ws"] == "acs" && v["opcode"] == 1)
        .map(|v| v["data"].as_str().unwrap())
        .collect();
    assert_eq!(
        frames.len(),
        12,
        "5 acks, 6 heartbeat acks, 1 credentials ack"
    );
    // And the ACS frames the reference 1.105.1 sent to a stand-in control plane (ecs-protocol's
    // fixtures; their TCS frames are replayed by tcs_replay.rs).
    let stand_in: Vec<String> = common::recorded_agent_text_frames("acs")
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(stand_in.len(), 5, "3 heartbeat acks, 2 payload acks");
    let frames: Vec<&str> = frames
        .into_iter()
        .chain(stand_in.iter().map(String::as_str))
        .collect();
    for f in &frames {
        ws.send(Message::text(f.to_string())).await.unwrap();
    }
    ws.close(None).await.unwrap();
    let mut answered = false;
    while let Some(msg) = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("the connection ended in time")
    {
        match msg {
            Ok(Message::Close(_)) => answered = true,
            Ok(Message::Text(t)) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                assert!(
                    !v["type"].as_str().unwrap_or_default().contains("Exception"),
                    "ACS refused a recorded frame: {t}"
                );
            }
            Ok(_) => {}
            Err(e) => panic!("ACS dropped the connection: {e}"),
        }
    }
    assert!(answered, "no close frame from ACS");
    token.cancel();
}
