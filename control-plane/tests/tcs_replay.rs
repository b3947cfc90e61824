#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Replays the reference Go agent 1.105.0's TCS connections, recorded against this emulator
//! (`fixtures/against-emulator.go.jsonl`, copied from shared/reference/go-agent-wire), byte for
//! byte: each signed upgrade, then its signed frames (all three connections, every frame). TCS must acknowledge each publish request
//! as the real service does (the reference agent drops a connection on which nothing arrives),
//! send heartbeats, refuse a tampered frame, and answer a close frame with one.

mod common;

use std::time::Duration;

use ecs_control_plane::{Config, serve};
use ecs_protocol::tcs::{TcsFrame, TcsMessage};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// The recorded TCS connections, in order: each one's upgrade request and its agent text frames.
fn recorded_connections() -> Vec<(Value, Vec<String>)> {
    let mut out: Vec<(Value, Vec<String>)> = Vec::new();
    for line in include_str!("fixtures/against-emulator.go.jsonl").lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["ws"] != "tcs" || v["dir"] != "agent->cp" {
            continue;
        }
        match v["kind"].as_str().unwrap() {
            "http_request" => out.push((v, Vec::new())),
            "ws_frame" if v["opcode"] == 1 => {
                let (upgrade, frames) = out
                    .iter_mut()
                    .find(|(u, _)| u["conn"] == v["conn"])
                    .expect("a frame after its upgrade");
                assert_eq!(upgrade["conn"], v["conn"]);
                frames.push(v["data"].as_str().unwrap().to_string());
            }
            _ => {}
        }
    }
    out
}

/// The first recorded TCS connection: its upgrade request and its agent text frames.
fn recorded() -> (Value, Vec<String>) {
    recorded_connections().swap_remove(0)
}

async fn start(heartbeat: Duration) -> (String, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let token = CancellationToken::new();
    let config = Config {
        max_skew: None,
        heartbeat_interval: heartbeat,
        ..Config::default()
    };
    let t = token.clone();
    tokio::spawn(async move { serve(listener, config, t).await.unwrap() });
    (addr, token)
}

/// Opens the recorded upgrade (its headers as sent, so its signature verifies) against `addr`.
async fn connect(addr: &str, upgrade: &Value) -> Ws {
    let host = upgrade["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == "Host")
        .unwrap()[1]
        .as_str()
        .unwrap();
    let mut request = http::Request::builder().uri(format!(
        "ws://{host}{}",
        upgrade["target"].as_str().unwrap()
    ));
    for h in upgrade["headers"].as_array().unwrap() {
        request = request.header(h[0].as_str().unwrap(), h[1].as_str().unwrap());
    }
    let stream = TcpStream::connect(addr).await.unwrap();
    let (ws, response) = tokio_tungstenite::client_async(request.body(()).unwrap(), stream)
        .await
        .unwrap();
    assert_eq!(response.status(), 101);
    ws
}

/// The next text frame from TCS, decoded.
async fn next_message(ws: &mut Ws) -> TcsMessage {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("TCS answered in time")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = msg {
            let TcsFrame::Known(m) = TcsFrame::decode(text.as_str()).unwrap() else {
                panic!("unknown frame {text}");
            };
            return m;
        }
    }
}

#[tokio::test]
async fn the_reference_agents_frames_are_acknowledged_and_a_tampered_one_refused() {
    let (addr, stop) = start(Duration::from_secs(3600)).await;
    let connections = recorded_connections();
    assert_eq!(connections.len(), 3);
    assert_eq!(
        connections.iter().map(|(_, f)| f.len()).sum::<usize>(),
        22,
        "every recorded TCS frame"
    );
    // The later connections first, each on its own upgrade; the first one goes on below.
    for (upgrade, frames) in &connections[1..] {
        let mut ws = connect(&addr, upgrade).await;
        for text in frames {
            ws.send(Message::text(text.clone())).await.unwrap();
            let answer = next_message(&mut ws).await;
            assert!(
                answer.type_name().starts_with("AckPublish"),
                "{text} -> {answer:?}"
            );
        }
    }
    let (upgrade, frames) = recorded();
    assert!(frames.len() >= 5, "{} frames", frames.len());
    let mut ws = connect(&addr, &upgrade).await;
    for text in &frames {
        ws.send(Message::text(text.clone())).await.unwrap();
        let answer = next_message(&mut ws).await;
        let kind =
            serde_json::from_str::<Value>(text.split_once("\r\n\r\n").unwrap().1).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string();
        let expected = match kind.as_str() {
            "PublishMetricsRequest" => "AckPublishMetric",
            "PublishHealthRequest" => "AckPublishHealth",
            "PublishInstanceStatusRequest" => "AckPublishInstanceStatus",
            other => panic!("unexpected {other}"),
        };
        assert_eq!(answer.type_name(), expected, "{text}");
    }
    // The same frame with its body changed: refused, and the session goes on.
    let tampered = frames[0].replace("\"fin\":true", "\"fin\":false");
    assert_ne!(tampered, frames[0]);
    ws.send(Message::text(tampered)).await.unwrap();
    let answer = next_message(&mut ws).await;
    assert_eq!(answer.type_name(), "BadRequestException", "{answer:?}");
    // Bare JSON (unsigned): refused too.
    let bare = frames[0].split_once("\r\n\r\n").unwrap().1.to_string();
    ws.send(Message::text(bare)).await.unwrap();
    assert_eq!(
        next_message(&mut ws).await.type_name(),
        "BadRequestException"
    );
    ws.send(Message::text(frames[0].clone())).await.unwrap();
    assert_eq!(next_message(&mut ws).await.type_name(), "AckPublishMetric");
    stop.cancel();
}

#[tokio::test]
async fn tcs_sends_heartbeats_and_answers_a_close_frame() {
    let (addr, stop) = start(Duration::from_millis(200)).await;
    let (upgrade, _) = recorded();
    let mut ws = connect(&addr, &upgrade).await;
    let beat = next_message(&mut ws).await;
    assert_eq!(
        beat.encode().unwrap(),
        r#"{"type":"HeartbeatMessage","message":{"healthy":true}}"#
    );
    ws.close(None).await.unwrap();
    // The close handshake completes: TCS's close frame arrives, then the stream ends.
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
    assert!(answered, "no close frame from TCS");
    stop.cancel();
}

/// The reference agent 1.105.1's TCS frames recorded against a stand-in control plane
/// (`ws-frames.external-*.json`, in ecs-protocol's fixtures) are signed for the stand-in's TCS
/// upgrade (`fixtures/requests.raw.jsonl`): over that upgrade, replayed byte for byte, each one is
/// verified and acknowledged. (Their ACS frames are replayed by replay.rs.)
#[tokio::test]
async fn the_stand_in_recordings_tcs_frames_are_acknowledged() {
    let (addr, stop) = start(Duration::from_secs(3600)).await;
    let upgrade = include_str!("fixtures/requests.raw.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| {
            v["kind"] == "ws-upgrade"
                && v["query"].as_str().is_some_and(|q| q.contains("&cluster="))
        })
        .unwrap();
    // In the against-emulator line format connect() reads.
    let upgrade = serde_json::json!({
        "target": format!("{}?{}", upgrade["path"].as_str().unwrap(), upgrade["query"].as_str().unwrap()),
        "headers": upgrade["headers"].as_object().unwrap().iter()
            .map(|(k, v)| serde_json::json!([k, v])).collect::<Vec<_>>(),
    });
    let mut seen = 0;
    for frames in common::recorded_agent_text_frames("tcs") {
        let mut ws = connect(&addr, &upgrade).await;
        for text in &frames {
            ws.send(Message::text(text.to_string())).await.unwrap();
            let answer = next_message(&mut ws).await;
            assert!(
                answer.type_name().starts_with("AckPublish"),
                "{text} -> {answer:?}"
            );
            seen += 1;
        }
    }
    assert_eq!(seen, 17, "every recorded TCS text frame");
    stop.cancel();
}
