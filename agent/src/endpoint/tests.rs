//! The server's routes, in process, over a real loopback socket.

use super::*;
use ecs_protocol::acs::IamRoleCredentials;

async fn start(endpoint: Endpoint) -> (String, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(serve(listener, endpoint, shutdown.clone()));
    (format!("http://{addr}"), shutdown)
}

fn endpoint(limit: Option<(u32, u32)>) -> Endpoint {
    let credentials = CredentialsManager::new();
    credentials
        .set(
            "arn:task/1",
            RoleType::TaskApplication,
            &IamRoleCredentials {
                credentials_id: Some("good-id".into()),
                role_arn: Some("arn:aws:iam::123456789012:role/app".into()),
                access_key_id: Some("ASIAKEY".into()),
                secret_access_key: Some("sekrit".into()),
                session_token: Some("tok".into()),
                expiration: Some("2099-01-01T00:00:00Z".into()),
                credential_scope: None,
            },
        )
        .unwrap();
    credentials.expect("pending-id", "arn:task/2", RoleType::TaskApplication);
    Endpoint {
        credentials,
        limiter: limit.map(|(s, b)| Arc::new(RateLimiter::new(s, b))),
        audit: AuditLog::disabled(),
        metadata: None,
    }
}

/// A bare HTTP/1.1 GET on a fresh connection: (status, body).
async fn get(base: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    let status = buf[9..12].parse().unwrap();
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test]
async fn credentials_v2_and_v1_answer_the_reference_shapes() {
    let (base, stop) = start(endpoint(None)).await;
    let (status, body) = get(&base, "/v2/credentials/good-id").await;
    assert_eq!(status, 200);
    assert_eq!(
        json(&body),
        json!({"RoleArn": "arn:aws:iam::123456789012:role/app", "AccessKeyId": "ASIAKEY",
               "SecretAccessKey": "sekrit", "Token": "tok", "Expiration": "2099-01-01T00:00:00Z"})
    );
    let (status, body) = get(&base, "/v1/credentials?id=good-id").await;
    assert_eq!(status, 200);
    assert_eq!(json(&body)["AccessKeyId"], "ASIAKEY");
    stop.cancel();
}

#[tokio::test]
async fn credentials_errors_have_the_reference_codes() {
    let (base, stop) = start(endpoint(None)).await;
    let cases = [
        (
            "/v2/credentials/nope",
            400,
            "InvalidIdInRequest",
            "CredentialsV2Request: Credentials not found",
        ),
        (
            "/v2/credentials",
            400,
            "NoIdInRequest",
            "CredentialsV2Request: No Credential ID in the request",
        ),
        (
            "/v2/credentials/",
            400,
            "NoIdInRequest",
            "CredentialsV2Request: No Credential ID in the request",
        ),
        (
            "/v1/credentials",
            400,
            "NoIdInRequest",
            "CredentialsV1Request: No Credential ID in the request",
        ),
        (
            "/v1/credentials?id=nope",
            400,
            "InvalidIdInRequest",
            "CredentialsV1Request: Credentials not found",
        ),
        (
            "/v2/credentials/pending-id",
            503,
            "CredentialsUninitialized",
            "CredentialsV2Request: Credentials uninitialized for ID",
        ),
    ];
    for (path, status, code, message) in cases {
        let (got, body) = get(&base, path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(
            json(&body),
            json!({"code": code, "message": message}),
            "{path}"
        );
    }
    // Metadata without an engine: 404 with a JSON string.
    let (got, body) = get(&base, "/v4/whatever/task").await;
    assert_eq!(got, 404);
    assert!(json(&body).is_string());
    stop.cancel();
}

#[tokio::test]
async fn the_sixty_first_request_is_throttled() {
    let (base, stop) = start(endpoint(Some((40, 60)))).await;
    let mut statuses = Vec::new();
    for _ in 0..70 {
        statuses.push(get(&base, "/v2/credentials/good-id").await.0);
    }
    assert!(statuses[..60].iter().all(|s| *s == 200), "{statuses:?}");
    assert!(statuses[60..].contains(&429), "{statuses:?}");
    stop.cancel();
}

#[tokio::test]
async fn a_client_that_half_closes_after_its_request_is_answered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (base, stop) = start(endpoint(None)).await;
    let mut s = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    s.write_all(b"GET /v2/credentials/good-id HTTP/1.0\r\nHost: 169.254.170.2\r\n\r\n")
        .await
        .unwrap();
    // What `printf ... | nc` does at the end of its input.
    s.shutdown().await.unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    assert!(buf.starts_with("HTTP/1.0 200"), "{buf:?}");
    assert!(buf.contains("ASIAKEY"));
    stop.cancel();
}
