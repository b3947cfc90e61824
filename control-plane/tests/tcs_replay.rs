#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Replays the reference Go agent 1.105.0's first TCS connection, recorded against this emulator
//! (`fixtures/against-emulator.go.jsonl`, copied from shared/reference/go-agent-wire), byte for
//! byte: the signed upgrade, then its signed frames. TCS must acknowledge each publish request
//! as the real service does (the reference agent drops a connection on which nothing arrives),
//! send heartbeats, refuse a tampered frame, and answer a close frame with one.

use std::time::Duration;

use ecs_control_plane::{Config, serve};
use ecs_protocol::tcs::{TcsFrame, TcsMessage};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// The first recorded TCS connection: its upgrade request and its agent text frames.
fn recorded() -> (Value, Vec<String>) {
    let mut upgrade = None;
    let mut frames = Vec::new();
    for line in include_str!("fixtures/against-emulator.go.jsonl").lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["ws"] != "tcs" || v["dir"] != "agent->cp" {
            continue;
        }
        match (upgrade.as_ref(), v["kind"].as_str().unwrap()) {
            (None, "http_request") => upgrade = Some(v),
            (Some(u), "ws_frame") if u["conn"] == v["conn"] && v["opcode"] == 1 => {
                frames.push(v["data"].as_str().unwrap().to_string());
            }
            _ => {}
        }
    }
    (upgrade.unwrap(), frames)
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
