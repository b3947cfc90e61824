#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The emulated S3, end to end.
//!
//! - The real AWS CLI drives `aws s3` (mb, cp up and down, ls, rm, rb --force) and `aws s3api`
//!   against the emulator's one listener, path-style; bodies come back byte for byte (a key
//!   with spaces and slashes, a binary file).
//! - Errors carry S3's codes (NoSuchKey, NoSuchBucket, BucketNotEmpty, SignatureDoesNotMatch,
//!   InvalidAccessKeyId, XAmzContentSHA256Mismatch), and the other APIs on the same listener
//!   still answer.
//! - Objects survive a `kill -9` of the emulator.
//! - A GetObject signed as the ECS agent signs it (execution role temporary credentials,
//!   `x-amz-content-sha256` of the empty body, path encoded once) returns the environment file.
//!
//! botocore's `s3` model is REST-XML, which `shapes.rs` does not check: the answers are checked
//! through the CLI's parsed output instead.

use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, anyhow};
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode,
    sign,
};
use aws_sigv4::sign::v4;
use ecs_e2e_tests::{AwsCli, ControlPlane, free_port};
use sha2::Digest;

const EXECUTION_ROLE: &str = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn s3(aws: &AwsCli, args: &[&str]) -> Result<String> {
    let out = aws.output(args)?;
    anyhow::ensure!(
        out.success(),
        "`aws {}` failed: {}",
        args.join(" "),
        out.stderr
    );
    Ok(out.stdout)
}

fn s3_err(aws: &AwsCli, args: &[&str]) -> Result<String> {
    let out = aws.output(args)?;
    anyhow::ensure!(!out.success(), "`aws {}` succeeded", args.join(" "));
    Ok(out.stderr)
}

#[test]
fn aws_cli_drives_s3() -> Result<()> {
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    let dir = tempfile::tempdir()?;
    let env_file = dir.path().join("app.env");
    std::fs::write(&env_file, "DB_HOST=db.local\nGREETING=hello world\n")?;
    let bin_file = dir.path().join("blob.bin");
    let binary: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&bin_file, &binary)?;

    assert!(s3(&aws, &["s3", "mb", "s3://env-files"])?.contains("make_bucket: env-files"));
    let err = aws.run_err(&["s3api", "create-bucket", "--bucket", "env-files"])?;
    assert_eq!(err.error_code(), Some("BucketAlreadyOwnedByYou"));
    let env_key = "s3://env-files/my app/prod settings/app 1.env";
    s3(&aws, &["s3", "cp", env_file.to_str().unwrap(), env_key])?;
    s3(
        &aws,
        &[
            "s3",
            "cp",
            bin_file.to_str().unwrap(),
            "s3://env-files/bin/blob.bin",
        ],
    )?;

    // Down, byte for byte: to stdout, and to a file.
    assert_eq!(
        s3(&aws, &["s3", "cp", env_key, "-"])?,
        "DB_HOST=db.local\nGREETING=hello world\n"
    );
    let got = dir.path().join("got.bin");
    s3(
        &aws,
        &[
            "s3",
            "cp",
            "s3://env-files/bin/blob.bin",
            got.to_str().unwrap(),
        ],
    )?;
    assert_eq!(std::fs::read(&got)?, binary);

    // Listings: buckets, one level, recursive.
    assert!(s3(&aws, &["s3", "ls"])?.contains(" env-files"));
    let top = s3(&aws, &["s3", "ls", "s3://env-files/"])?;
    assert!(top.contains("PRE my app/"), "{top}");
    assert!(top.contains("PRE bin/"), "{top}");
    let all = s3(&aws, &["s3", "ls", "s3://env-files/", "--recursive"])?;
    assert!(all.contains("my app/prod settings/app 1.env"), "{all}");
    assert!(all.contains("300000 bin/blob.bin"), "{all}");

    // The parsed answers of the operations behind them.
    let md5 = format!("\"{}\"", md5_hex(&binary));
    let head = aws.run(&[
        "s3api",
        "head-object",
        "--bucket",
        "env-files",
        "--key",
        "bin/blob.bin",
    ])?;
    assert_eq!(head["ContentLength"], 300_000);
    assert_eq!(head["ETag"], md5.as_str());
    assert!(head["LastModified"].is_string(), "{head}");
    let listed = aws.run(&[
        "s3api",
        "list-objects-v2",
        "--bucket",
        "env-files",
        "--prefix",
        "my app/",
        "--no-paginate",
    ])?;
    assert_eq!(listed["KeyCount"], 1);
    assert_eq!(
        listed["Contents"][0]["Key"],
        "my app/prod settings/app 1.env"
    );
    assert_eq!(listed["Contents"][0]["Size"], 38);
    // Pages of one, through the CLI's paginator.
    let paged = aws.run(&[
        "s3api",
        "list-objects-v2",
        "--bucket",
        "env-files",
        "--page-size",
        "1",
    ])?;
    assert_eq!(
        paged["Contents"].as_array().map(Vec::len),
        Some(2),
        "{paged}"
    );
    let put = aws.run(&[
        "s3api",
        "put-object",
        "--bucket",
        "env-files",
        "--key",
        "typed.json",
        "--body",
        env_file.to_str().unwrap(),
        "--content-type",
        "application/json",
    ])?;
    assert_eq!(
        put["ETag"],
        format!("\"{}\"", md5_hex(&std::fs::read(&env_file)?)).as_str()
    );
    let ranged = aws.run(&[
        "s3api",
        "get-object",
        "--bucket",
        "env-files",
        "--key",
        "typed.json",
        "--range",
        "bytes=0-6",
        dir.path().join("range").to_str().unwrap(),
    ])?;
    assert_eq!(ranged["ContentType"], "application/json");
    assert_eq!(ranged["ContentRange"], "bytes 0-6/38");
    assert_eq!(std::fs::read(dir.path().join("range"))?, b"DB_HOST");
    let region = aws.run(&["s3api", "head-bucket", "--bucket", "env-files"])?;
    assert_eq!(region["BucketRegion"], "us-east-1", "{region}");

    // Errors, with S3's codes.
    let err = aws.run_err(&[
        "s3api",
        "get-object",
        "--bucket",
        "env-files",
        "--key",
        "nope",
        dir.path().join("x").to_str().unwrap(),
    ])?;
    assert_eq!(err.error_code(), Some("NoSuchKey"));
    let err = aws.run_err(&["s3api", "list-objects-v2", "--bucket", "no-such-bucket"])?;
    assert_eq!(err.error_code(), Some("NoSuchBucket"));
    let stderr = s3_err(&aws, &["s3", "rb", "s3://env-files"])?;
    assert!(stderr.contains("(BucketNotEmpty)"), "{stderr}");
    let forged = cp
        .aws()?
        .credentials("AKIAIOSFODNN7EXAMPLE", "not-the-secret");
    let err = forged.run_err(&["s3api", "list-buckets"])?;
    assert_eq!(err.error_code(), Some("SignatureDoesNotMatch"));
    let unknown = cp.aws()?.credentials("AKIAUNKNOWN000000000", "x");
    let err = unknown.run_err(&["s3api", "list-buckets"])?;
    assert_eq!(err.error_code(), Some("InvalidAccessKeyId"));

    // The other APIs still answer on the same listener.
    aws.run(&["ecs", "list-clusters"])?;
    aws.run(&["sts", "get-caller-identity"])?;

    // rm, then rb --force empties and removes the bucket.
    assert!(s3(&aws, &["s3", "rm", env_key])?.contains("delete:"));
    let err = aws.run_err(&[
        "s3api",
        "head-object",
        "--bucket",
        "env-files",
        "--key",
        "my app/prod settings/app 1.env",
    ])?;
    assert_eq!(err.error_code(), Some("404"));
    assert!(s3(&aws, &["s3", "rb", "--force", "s3://env-files"])?.contains("remove_bucket"));
    assert!(!s3(&aws, &["s3", "ls"])?.contains("env-files"));
    Ok(())
}

fn md5_hex(bytes: &[u8]) -> String {
    // No MD5 crate in the test crate: the CLI's ETag is compared with `md5sum`'s answer.
    let mut child = std::process::Command::new("md5sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..32].to_string()
}

#[test]
fn objects_survive_kill_9() -> Result<()> {
    let data = tempfile::tempdir()?;
    let addr = format!("127.0.0.1:{}", free_port()?);
    let mut cp = ControlPlane::start_on(&addr, Some(data.path()))?;
    let aws = cp.aws()?;
    let file = data.path().join("kept.env");
    std::fs::write(&file, "KEPT=1\n")?;
    s3(&aws, &["s3", "mb", "s3://kept"])?;
    s3(
        &aws,
        &["s3", "cp", file.to_str().unwrap(), "s3://kept/a/kept.env"],
    )?;
    s3(
        &aws,
        &["s3", "cp", file.to_str().unwrap(), "s3://kept/gone.env"],
    )?;
    s3(&aws, &["s3", "rm", "s3://kept/gone.env"])?;
    cp.process.kill()?;
    drop(cp);

    let cp = ControlPlane::start_on(&addr, Some(data.path()))?;
    let aws = cp.aws()?;
    assert_eq!(
        s3(&aws, &["s3", "cp", "s3://kept/a/kept.env", "-"])?,
        "KEPT=1\n"
    );
    let all = s3(&aws, &["s3", "ls", "s3://kept/", "--recursive"])?;
    assert!(
        all.contains("a/kept.env") && !all.contains("gone.env"),
        "{all}"
    );
    Ok(())
}

/// A request signed as the ECS agent signs its GetObject for `environmentFiles`, sent raw.
struct Signed<'a> {
    method: &'a str,
    path: &'a str,
    body: &'a [u8],
    /// The `x-amz-content-sha256` to claim.
    content_sha256: &'a str,
    access_key_id: &'a str,
    secret: &'a str,
    token: Option<&'a str>,
}

async fn send_signed(addr: &str, r: &Signed<'_>) -> Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let identity = aws_credential_types::Credentials::new(
        r.access_key_id,
        r.secret,
        r.token.map(str::to_string),
        None,
        "test",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(SystemTime::now())
        .settings(settings)
        .build()?
        .into();
    let headers = [("host", addr), ("x-amz-content-sha256", r.content_sha256)];
    let signable = SignableRequest::new(
        r.method,
        format!("http://{addr}{}", r.path),
        headers.into_iter(),
        SignableBody::Precomputed(r.content_sha256.to_string()),
    )?;
    let (instructions, _) = sign(signable, &params)?.into_parts();
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: {addr}\r\nx-amz-content-sha256: {}\r\ncontent-length: {}\r\nconnection: close\r\n",
        r.method,
        r.path,
        r.content_sha256,
        r.body.len()
    );
    for (k, v) in instructions.headers() {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(head.as_bytes()).await?;
    s.write_all(r.body).await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .map_err(|_| anyhow!("no response from {addr}"))??;
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("not an HTTP response")?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}

#[tokio::test(flavor = "multi_thread")]
async fn agent_style_get_object_with_execution_role_credentials() -> Result<()> {
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("task.env");
    std::fs::write(&file, "FROM_S3=yes\nSPACED=a b\n")?;
    s3(&aws, &["s3", "mb", "s3://task-env"])?;
    s3(
        &aws,
        &[
            "s3",
            "cp",
            file.to_str().unwrap(),
            "s3://task-env/svc/web app.env",
        ],
    )?;
    let assumed = aws.run(&[
        "sts",
        "assume-role",
        "--role-arn",
        EXECUTION_ROLE,
        "--role-session-name",
        "env-files",
    ])?;
    let c = &assumed["Credentials"];
    let (ak, secret, token) = (
        c["AccessKeyId"].as_str().unwrap(),
        c["SecretAccessKey"].as_str().unwrap(),
        c["SessionToken"].as_str().unwrap(),
    );
    let get = |path, secret| Signed {
        method: "GET",
        path,
        body: b"",
        content_sha256: EMPTY_SHA256,
        access_key_id: ak,
        secret,
        token: Some(token),
    };
    let (status, body) = send_signed(&cp.addr, &get("/task-env/svc/web%20app.env", secret)).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "FROM_S3=yes\nSPACED=a b\n");

    let (status, body) = send_signed(&cp.addr, &get("/task-env/svc/none.env", secret)).await?;
    assert_eq!(status, 404);
    assert!(body.contains("<Code>NoSuchKey</Code>"), "{body}");
    assert!(body.contains("<RequestId>"), "{body}");
    let (status, body) =
        send_signed(&cp.addr, &get("/task-env/svc/web%20app.env", "wrong")).await?;
    assert_eq!(status, 403);
    assert!(
        body.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{body}"
    );

    // A body that does not match the signed hash is refused.
    let put = Signed {
        method: "PUT",
        path: "/task-env/x.env",
        body: b"tampered",
        content_sha256: &hex::encode(sha2::Sha256::digest(b"original")),
        access_key_id: ak,
        secret,
        token: Some(token),
    };
    let (status, body) = send_signed(&cp.addr, &put).await?;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("<Code>XAmzContentSHA256Mismatch</Code>"),
        "{body}"
    );
    Ok(())
}
