//! A scripted agent-side client for control-plane tests: the real AWS SDK for the ECS API calls and
//! an ACS websocket whose upgrade is SigV4-signed with `aws-sigv4`, exactly as the agent signs it.
//! It does not run containers; tests tell it what to report.

use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use aws_credential_types::Credentials;
use aws_sdk_ecs::types::{
    Attribute, ContainerStateChange, NetworkBinding, Resource, TransportProtocol,
};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The keys and region a client signs with.
#[derive(Clone)]
pub struct SigningIdentity {
    /// Access key id.
    pub access_key_id: String,
    /// Secret.
    pub secret_access_key: String,
    /// Region.
    pub region: String,
}

impl std::fmt::Debug for SigningIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningIdentity")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl SigningIdentity {
    /// The emulator's documented default keys.
    pub fn emulator_default() -> Self {
        SigningIdentity {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            region: "us-east-1".into(),
        }
    }

    fn credentials(&self) -> Credentials {
        Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            None,
            None,
            "fake-agent",
        )
    }
}

/// An ECS client (real SDK) pointed at `endpoint`.
pub fn ecs_client(endpoint: &str, id: &SigningIdentity) -> aws_sdk_ecs::Client {
    let conf = aws_sdk_ecs::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_ecs::config::Region::new(id.region.clone()))
        .credentials_provider(id.credentials())
        .endpoint_url(endpoint)
        .build();
    aws_sdk_ecs::Client::from_conf(conf)
}

/// A registered fake container instance.
#[derive(Debug)]
pub struct FakeAgent {
    /// SDK client.
    pub ecs: aws_sdk_ecs::Client,
    /// Identity used to sign.
    pub id: SigningIdentity,
    /// Cluster name.
    pub cluster: String,
    /// The instance ARN the control plane returned.
    pub instance_arn: String,
}

impl FakeAgent {
    /// Registers an instance with `cpu` units and `memory_mib`, as the agent does on ECS Anywhere.
    pub async fn register(
        endpoint: &str,
        cluster: &str,
        cpu: i32,
        memory_mib: i32,
    ) -> Result<Self> {
        Self::register_with_attributes(endpoint, cluster, cpu, memory_mib, &[]).await
    }

    /// [`FakeAgent::register`] with `attributes` (name, optional value) added to
    /// `ecs.capability.external` and `ecs.os-type=linux`: capabilities such as
    /// `com.amazonaws.ecs.capability.logging-driver.awslogs`, or custom attributes as
    /// `ECS_INSTANCE_ATTRIBUTES` sends them.
    pub async fn register_with_attributes(
        endpoint: &str,
        cluster: &str,
        cpu: i32,
        memory_mib: i32,
        attributes: &[(&str, Option<&str>)],
    ) -> Result<Self> {
        let id = SigningIdentity::emulator_default();
        let ecs = ecs_client(endpoint, &id);
        let int = |n: &str, v: i32| {
            Resource::builder()
                .name(n)
                .r#type("INTEGER")
                .integer_value(v)
                .build()
        };
        let set = |n: &str, v: &[&str]| {
            Resource::builder()
                .name(n)
                .r#type("STRINGSET")
                .set_string_set_value(Some(v.iter().map(|s| (*s).to_string()).collect()))
                .build()
        };
        let mut extra = vec![
            Attribute::builder()
                .name("ecs.capability.external")
                .build()?,
            Attribute::builder()
                .name("ecs.os-type")
                .value("linux")
                .build()?,
        ];
        for (name, value) in attributes {
            extra.push(
                Attribute::builder()
                    .name(*name)
                    .set_value(value.map(String::from))
                    .build()?,
            );
        }
        let out = ecs
            .register_container_instance()
            .cluster(cluster)
            .instance_identity_document("")
            .instance_identity_document_signature("")
            .total_resources(int("CPU", cpu))
            .total_resources(int("MEMORY", memory_mib))
            .total_resources(set("PORTS", &["22", "2375", "2376", "51678", "51679"]))
            .total_resources(set("PORTS_UDP", &[]))
            .set_attributes(Some(extra))
            .send()
            .await
            .context("RegisterContainerInstance")?;
        let instance_arn = out
            .container_instance()
            .and_then(|c| c.container_instance_arn())
            .ok_or_else(|| anyhow!("no containerInstanceArn in the answer"))?
            .to_string();
        Ok(FakeAgent {
            ecs,
            id,
            cluster: cluster.to_string(),
            instance_arn,
        })
    }

    /// DiscoverPollEndpoint, then the signed ACS websocket.
    pub async fn connect(&self) -> Result<AcsConnection> {
        let out = self
            .ecs
            .discover_poll_endpoint()
            .cluster(&self.cluster)
            .container_instance(&self.instance_arn)
            .send()
            .await
            .context("DiscoverPollEndpoint")?;
        let endpoint = out
            .endpoint()
            .ok_or_else(|| anyhow!("no endpoint in DiscoverPollEndpoint"))?;
        let query = format!(
            "agentHash=e2etest&agentVersion=1.105.1&clusterArn={}&containerInstanceArn={}&dockerVersion={}&protocolVersion=2&sendCredentials=true&seqNum=1",
            enc(&self.cluster),
            enc(&self.instance_arn),
            enc("DockerVersion: 20.10.24"),
        );
        // As the agent does: https becomes wss, http becomes ws.
        let endpoint = endpoint
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1);
        let url = format!("{}/ws?{query}", endpoint.trim_end_matches('/'));
        AcsConnection::open(&url, &self.id).await
    }

    /// SubmitTaskStateChange for one container with an optional TCP binding `container_port -> host_port`.
    pub async fn submit(
        &self,
        task_arn: &str,
        status: &str,
        container: &str,
        binding: Option<(i32, i32)>,
        exit_code: Option<i32>,
        reason: Option<&str>,
    ) -> Result<()> {
        let mut change = ContainerStateChange::builder()
            .container_name(container)
            .runtime_id(format!("{:064x}", 42))
            .status(status);
        if let Some((c, h)) = binding {
            change = change.network_bindings(
                NetworkBinding::builder()
                    .bind_ip("0.0.0.0")
                    .container_port(c)
                    .host_port(h)
                    .protocol(TransportProtocol::Tcp)
                    .build(),
            );
        }
        if let Some(code) = exit_code {
            change = change.exit_code(code);
        }
        let mut req = self
            .ecs
            .submit_task_state_change()
            .cluster(&self.cluster)
            .task(task_arn)
            .status(status)
            .containers(change.build());
        if let Some(r) = reason {
            req = req.reason(r);
        }
        req.send().await.context("SubmitTaskStateChange")?;
        Ok(())
    }
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Signs a websocket upgrade (GET `url`, empty body) with SigV4 for service `ecs`, as the agent does.
pub fn signed_upgrade(
    url: &str,
    id: &SigningIdentity,
    at: SystemTime,
) -> Result<http::Request<()>> {
    let mut request = url.into_client_request().context("websocket URL")?;
    let host = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .ok_or_else(|| anyhow!("no host in {url}"))?;
    let http_url = url.replacen("ws://", "http://", 1);
    let identity = id.credentials().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&id.region)
        .name("ecs")
        .time(at)
        .settings(SigningSettings::default())
        .build()?
        .into();
    let signable = SignableRequest::new(
        "GET",
        http_url,
        [("host", host.as_str())].into_iter(),
        SignableBody::Bytes(&[]),
    )?;
    let (instructions, _) = sign(signable, &params)?.into_parts();
    for (name, value) in instructions.headers() {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes())?,
            http::HeaderValue::from_str(value)?,
        );
    }
    Ok(request)
}

/// An open ACS websocket.
#[derive(Debug)]
pub struct AcsConnection {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl AcsConnection {
    /// Opens `url` with a signed upgrade.
    pub async fn open(url: &str, id: &SigningIdentity) -> Result<Self> {
        let request = signed_upgrade(url, id, SystemTime::now())?;
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .with_context(|| format!("ACS upgrade to {url}"))?;
        Ok(AcsConnection { ws })
    }

    /// Waits for the next frame of type `kind`, answering heartbeats on the way.
    pub async fn next_of(&mut self, kind: &str, timeout: Duration) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .map_err(|_| anyhow!("no {kind} within {timeout:?}"))?
                .ok_or_else(|| anyhow!("ACS connection closed while waiting for {kind}"))??;
            let Message::Text(text) = msg else { continue };
            let frame: Value = serde_json::from_str(&text)?;
            let t = frame["type"].as_str().unwrap_or_default().to_string();
            if t == "HeartbeatMessage" {
                let id = frame["message"]["messageId"].clone();
                self.send(json!({"type": "HeartbeatAckRequest", "message": {"messageId": id}}))
                    .await?;
            }
            if t == kind {
                return Ok(frame);
            }
        }
    }

    /// Sends a frame.
    pub async fn send(&mut self, frame: Value) -> Result<()> {
        self.ws
            .send(Message::Text(frame.to_string().into()))
            .await?;
        Ok(())
    }

    /// Acks a PayloadMessage as the agent does.
    pub async fn ack(&mut self, payload: &Value) -> Result<()> {
        let m = &payload["message"];
        if m["messageId"].is_null() {
            bail!("payload without messageId: {payload}");
        }
        self.send(json!({
            "type": "AckRequest",
            "message": {
                "cluster": m["clusterArn"],
                "containerInstance": m["containerInstanceArn"],
                "messageId": m["messageId"],
            }
        }))
        .await
    }

    /// Waits until the control plane closes the connection (a close frame or the end of the
    /// stream), answering heartbeats on the way; an error when it is still open after `timeout`.
    pub async fn wait_closed(&mut self, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .map_err(|_| anyhow!("ACS connection still open after {timeout:?}"))?;
            match msg {
                None | Some(Ok(Message::Close(_))) => return Ok(()),
                Some(Err(e)) => bail!("ACS connection failed instead of closing: {e}"),
                Some(Ok(Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(&text)?;
                    if frame["type"] == "HeartbeatMessage" {
                        let id = frame["message"]["messageId"].clone();
                        let ack =
                            json!({"type": "HeartbeatAckRequest", "message": {"messageId": id}});
                        // A heartbeat sent just before the close: the connection may already be
                        // gone when it is answered, which is what is awaited.
                        if self.send(ack).await.is_err() {
                            return Ok(());
                        }
                    }
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// Closes the connection.
    pub async fn close(mut self) -> Result<()> {
        self.ws.close(None).await?;
        Ok(())
    }
}

/// POSTs `body` to an AWS JSON 1.1 `target` at `endpoint`, signed for `service`; returns (status, body).
/// For requests the SDKs and the CLI would never send (malformed JSON, unknown operations).
pub async fn signed_post(
    endpoint: &str,
    service: &str,
    target: &str,
    body: &[u8],
    id: &SigningIdentity,
) -> Result<(u16, Value)> {
    let uri: http::Uri = endpoint.parse()?;
    let host = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .ok_or_else(|| anyhow!("no host in {endpoint}"))?;
    let identity = id.credentials().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&id.region)
        .name(service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()?
        .into();
    let headers = [
        ("host", host.as_str()),
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", target),
    ];
    let signable = SignableRequest::new(
        "POST",
        format!("{}/", endpoint.trim_end_matches('/')),
        headers.into_iter(),
        SignableBody::Bytes(body),
    )?;
    let (instructions, _) = sign(signable, &params)?.into_parts();
    let mut head = format!(
        "POST / HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/x-amz-json-1.1\r\nx-amz-target: {target}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in instructions.headers() {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    raw_exchange(&host, head.as_bytes(), body).await
}

/// Sends a raw HTTP/1.1 request and returns (status, JSON body).
pub async fn raw_exchange(host: &str, head: &[u8], body: &[u8]) -> Result<(u16, Value)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = TcpStream::connect(host).await?;
    s.write_all(head).await?;
    s.write_all(body).await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .map_err(|_| anyhow!("no response from {host} within 10 s"))??;
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("not an HTTP response: {text}"))?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let json = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
    Ok((status, json))
}
