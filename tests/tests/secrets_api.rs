#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The emulated SSM Parameter Store and Secrets Manager, end to end.
//!
//! - The real AWS CLI drives every operation the emulator serves (values, versions, paths,
//!   pagination through the CLI's own paginators, deletion and restore, errors).
//! - Raw answers are checked against botocore's `ssm` and `secretsmanager` models.
//! - Temporary credentials the emulator issued sign the calls as well as the account keys.
//! - Values survive a `kill -9` of the emulator.
//! - A task definition with container secrets and `secretOptions` reaches an agent over ACS in
//!   the shape the reference agent reads, and the execution role credentials of that payload
//!   read the values back, as the agent will.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use ecs_e2e_tests::fake_agent::{FakeAgent, SigningIdentity, signed_post};
use ecs_e2e_tests::shapes::ServiceModel;
use ecs_e2e_tests::{AwsCli, ControlPlane, awscli_venv, free_port, register_task_definition_with};
use serde_json::{Value, json};

const EXECUTION_ROLE: &str = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole";
const ACCOUNT: &str = "123456789012";

fn names(v: &Value, list: &str) -> Vec<String> {
    v[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {v}"))
        .iter()
        .map(|p| p["Name"].as_str().unwrap().to_string())
        .collect()
}

fn put(aws: &AwsCli, name: &str, value: &str, kind: &str) -> Result<Value> {
    aws.run(&[
        "ssm",
        "put-parameter",
        "--name",
        name,
        "--value",
        value,
        "--type",
        kind,
    ])
}

#[test]
fn aws_cli_drives_parameter_store() -> Result<()> {
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    let v = put(&aws, "/app/db/password", "s3cret-1", "SecureString")?;
    assert_eq!(v, json!({"Version": 1, "Tier": "Standard"}));
    put(&aws, "/app/db/host", "db.local", "String")?;
    put(&aws, "/app/hosts", "a,b,c", "StringList")?;
    put(&aws, "/app/deep/er/x", "1", "String")?;
    put(&aws, "flat", "top", "String")?;

    let err = aws.run_err(&[
        "ssm",
        "put-parameter",
        "--name",
        "/app/db/password",
        "--value",
        "x",
        "--type",
        "SecureString",
    ])?;
    assert_eq!(err.error_code(), Some("ParameterAlreadyExists"));
    assert!(
        err.stderr.contains("The parameter already exists. To overwrite this value, set the overwrite option in the request to true."),
        "{}",
        err.stderr
    );
    let v = aws.run(&[
        "ssm",
        "put-parameter",
        "--name",
        "/app/db/password",
        "--value",
        "s3cret-2",
        "--overwrite",
    ])?;
    assert_eq!(v["Version"], 2);

    // Decrypted, the value; without decryption, an opaque blob.
    let got = aws.run(&[
        "ssm",
        "get-parameter",
        "--name",
        "/app/db/password",
        "--with-decryption",
    ])?;
    assert_eq!(got["Parameter"]["Value"], "s3cret-2");
    assert_eq!(got["Parameter"]["Type"], "SecureString");
    assert_eq!(got["Parameter"]["Version"], 2);
    assert_eq!(
        got["Parameter"]["ARN"],
        format!("arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/app/db/password")
    );
    let opaque = aws.run(&["ssm", "get-parameter", "--name", "/app/db/password"])?;
    let blob = opaque["Parameter"]["Value"].as_str().unwrap();
    ensure!(!blob.contains("s3cret"), "the blob shows the value: {blob}");
    let old = aws.run(&[
        "ssm",
        "get-parameter",
        "--name",
        "/app/db/password:1",
        "--with-decryption",
    ])?;
    assert_eq!(old["Parameter"]["Value"], "s3cret-1");
    assert_eq!(old["Parameter"]["Selector"], ":1");
    let err = aws.run_err(&["ssm", "get-parameter", "--name", "/app/db/password:7"])?;
    assert_eq!(err.error_code(), Some("ParameterVersionNotFound"));
    let err = aws.run_err(&["ssm", "get-parameter", "--name", "/nope"])?;
    assert_eq!(err.error_code(), Some("ParameterNotFound"));
    let err = aws.run_err(&[
        "ssm",
        "put-parameter",
        "--name",
        "a/b",
        "--value",
        "v",
        "--type",
        "String",
    ])?;
    assert_eq!(err.error_code(), Some("ValidationException"));

    // GetParameters: unknown names are listed, not an error; ARNs come back as asked.
    let arn = format!("arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/app/db/host");
    let flat_arn = format!("arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/flat");
    let many = aws.run(&[
        "ssm",
        "get-parameters",
        "--names",
        "/app/db/password",
        &arn,
        &flat_arn,
        "/missing",
        "--with-decryption",
    ])?;
    assert_eq!(
        names(&many, "Parameters"),
        ["/app/db/password", arn.as_str(), flat_arn.as_str()]
    );
    assert_eq!(many["Parameters"][0]["Value"], "s3cret-2");
    assert_eq!(many["Parameters"][2]["Value"], "top");
    assert_eq!(many["InvalidParameters"], json!(["/missing"]));

    // By path: one level, then recursive through the CLI's paginator (pages of 1).
    let one = aws.run(&["ssm", "get-parameters-by-path", "--path", "/app"])?;
    assert_eq!(names(&one, "Parameters"), ["/app/hosts"]);
    let all = aws.run(&[
        "ssm",
        "get-parameters-by-path",
        "--path",
        "/app",
        "--recursive",
        "--page-size",
        "1",
        "--with-decryption",
    ])?;
    assert_eq!(
        names(&all, "Parameters"),
        [
            "/app/db/host",
            "/app/db/password",
            "/app/deep/er/x",
            "/app/hosts"
        ]
    );
    let described = aws.run(&["ssm", "describe-parameters", "--page-size", "2"])?;
    assert_eq!(
        names(&described, "Parameters"),
        [
            "/app/db/host",
            "/app/db/password",
            "/app/deep/er/x",
            "/app/hosts",
            "flat"
        ]
    );
    assert_eq!(described["Parameters"][1]["KeyId"], "alias/aws/ssm");
    assert_eq!(described["Parameters"][1]["Version"], 2);
    let one_page = aws.run(&["ssm", "describe-parameters", "--max-items", "2"])?;
    assert_eq!(names(&one_page, "Parameters").len(), 2);
    assert!(one_page["NextToken"].is_string(), "{one_page}");
    let filtered = aws.run(&[
        "ssm",
        "describe-parameters",
        "--parameter-filters",
        "Key=Type,Values=SecureString",
    ])?;
    assert_eq!(names(&filtered, "Parameters"), ["/app/db/password"]);

    aws.run(&["ssm", "delete-parameter", "--name", "/app/db/host"])?;
    let err = aws.run_err(&["ssm", "delete-parameter", "--name", "/app/db/host"])?;
    assert_eq!(err.error_code(), Some("ParameterNotFound"));
    let del = aws.run(&[
        "ssm",
        "delete-parameters",
        "--names",
        "/app/hosts",
        "flat",
        "/gone",
    ])?;
    assert_eq!(del["DeletedParameters"], json!(["/app/hosts", "flat"]));
    assert_eq!(del["InvalidParameters"], json!(["/gone"]));
    // The emulator's log never shows a value.
    let log = cp.process.output();
    ensure!(!log.contains("s3cret"), "a value reached the log:\n{log}");
    Ok(())
}

#[test]
fn aws_cli_drives_secrets_manager() -> Result<()> {
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    let created = aws.run(&[
        "secretsmanager",
        "create-secret",
        "--name",
        "prod/db",
        "--description",
        "database",
        "--secret-string",
        r#"{"username":"app","password":"pw-1"}"#,
    ])?;
    let arn = created["ARN"].as_str().unwrap().to_string();
    let suffix = arn
        .strip_prefix(&format!(
            "arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/db-"
        ))
        .with_context(|| format!("unexpected ARN {arn}"))?;
    ensure!(
        suffix.len() == 6 && suffix.chars().all(|c| c.is_ascii_alphanumeric()),
        "{arn}"
    );
    let first_version = created["VersionId"].as_str().unwrap().to_string();
    let err = aws.run_err(&[
        "secretsmanager",
        "create-secret",
        "--name",
        "prod/db",
        "--secret-string",
        "x",
    ])?;
    assert_eq!(err.error_code(), Some("ResourceExistsException"));

    let partial = format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/db");
    for id in ["prod/db", arn.as_str(), partial.as_str()] {
        let v = aws.run(&["secretsmanager", "get-secret-value", "--secret-id", id])?;
        assert_eq!(
            v["SecretString"], r#"{"username":"app","password":"pw-1"}"#,
            "{id}"
        );
        assert_eq!(v["ARN"], arn.as_str());
        assert_eq!(v["VersionStages"], json!(["AWSCURRENT"]));
    }
    let err = aws.run_err(&["secretsmanager", "get-secret-value", "--secret-id", "nope"])?;
    assert_eq!(err.error_code(), Some("ResourceNotFoundException"));
    assert!(
        err.stderr
            .contains("Secrets Manager can't find the specified secret."),
        "{}",
        err.stderr
    );

    let put = aws.run(&[
        "secretsmanager",
        "put-secret-value",
        "--secret-id",
        "prod/db",
        "--secret-string",
        "pw-2",
    ])?;
    assert_eq!(put["VersionStages"], json!(["AWSCURRENT"]));
    let updated = aws.run(&[
        "secretsmanager",
        "update-secret",
        "--secret-id",
        &arn,
        "--secret-string",
        "pw-3",
        "--description",
        "db v3",
    ])?;
    let third = updated["VersionId"].as_str().unwrap().to_string();
    let cur = aws.run(&[
        "secretsmanager",
        "get-secret-value",
        "--secret-id",
        "prod/db",
    ])?;
    assert_eq!(cur["SecretString"], "pw-3");
    assert_eq!(cur["VersionId"], third.as_str());
    let prev = aws.run(&[
        "secretsmanager",
        "get-secret-value",
        "--secret-id",
        "prod/db",
        "--version-stage",
        "AWSPREVIOUS",
    ])?;
    assert_eq!(prev["SecretString"], "pw-2");
    let first = aws.run(&[
        "secretsmanager",
        "get-secret-value",
        "--secret-id",
        "prod/db",
        "--version-id",
        &first_version,
    ])?;
    assert_eq!(
        first["SecretString"],
        r#"{"username":"app","password":"pw-1"}"#
    );
    assert_eq!(first["VersionStages"], json!([]));
    let described = aws.run(&[
        "secretsmanager",
        "describe-secret",
        "--secret-id",
        "prod/db",
    ])?;
    assert_eq!(described["Description"], "db v3");
    assert_eq!(
        described["VersionIdsToStages"][&third],
        json!(["AWSCURRENT"])
    );
    assert_eq!(
        described["VersionIdsToStages"].as_object().unwrap().len(),
        2
    );

    // A binary secret.
    let dir = tempfile::tempdir()?;
    let bin = dir.path().join("key.bin");
    std::fs::write(&bin, [0u8, 1, 2, 250])?;
    aws.run(&[
        "secretsmanager",
        "create-secret",
        "--name",
        "tls/key",
        "--secret-binary",
        &format!("fileb://{}", bin.display()),
    ])?;
    let b = aws.run(&[
        "secretsmanager",
        "get-secret-value",
        "--secret-id",
        "tls/key",
    ])?;
    assert_eq!(b["SecretBinary"], "AAEC+g==");
    assert!(b.get("SecretString").is_none(), "{b}");

    // Listing walks pages of one with the CLI's paginator.
    aws.run(&[
        "secretsmanager",
        "create-secret",
        "--name",
        "third",
        "--secret-string",
        "3",
    ])?;
    let listed = aws.run(&["secretsmanager", "list-secrets", "--page-size", "1"])?;
    let mut got = names(&listed, "SecretList");
    got.sort();
    assert_eq!(got, ["prod/db", "third", "tls/key"]);

    // Scheduled deletion: reads refused, listed only on request, then restored.
    let del = aws.run(&[
        "secretsmanager",
        "delete-secret",
        "--secret-id",
        "prod/db",
        "--recovery-window-in-days",
        "7",
    ])?;
    assert!(del["DeletionDate"].is_number(), "{del}");
    let err = aws.run_err(&[
        "secretsmanager",
        "get-secret-value",
        "--secret-id",
        "prod/db",
    ])?;
    assert_eq!(err.error_code(), Some("InvalidRequestException"));
    assert!(err.stderr.contains("marked for deletion"), "{}", err.stderr);
    let d = aws.run(&[
        "secretsmanager",
        "describe-secret",
        "--secret-id",
        "prod/db",
    ])?;
    assert!(d["DeletedDate"].is_number(), "{d}");
    let listed = aws.run(&["secretsmanager", "list-secrets"])?;
    assert!(!names(&listed, "SecretList").contains(&"prod/db".to_string()));
    let listed = aws.run(&[
        "secretsmanager",
        "list-secrets",
        "--include-planned-deletion",
    ])?;
    assert!(names(&listed, "SecretList").contains(&"prod/db".to_string()));
    aws.run(&["secretsmanager", "restore-secret", "--secret-id", "prod/db"])?;
    let back = aws.run(&[
        "secretsmanager",
        "get-secret-value",
        "--secret-id",
        "prod/db",
    ])?;
    assert_eq!(back["SecretString"], "pw-3");

    // Forced deletion frees the name at once (with a new ARN).
    aws.run(&[
        "secretsmanager",
        "delete-secret",
        "--secret-id",
        "third",
        "--force-delete-without-recovery",
    ])?;
    let err = aws.run_err(&["secretsmanager", "describe-secret", "--secret-id", "third"])?;
    assert_eq!(err.error_code(), Some("ResourceNotFoundException"));
    aws.run(&[
        "secretsmanager",
        "create-secret",
        "--name",
        "third",
        "--secret-string",
        "again",
    ])?;

    let log = cp.process.output();
    ensure!(!log.contains("pw-"), "a value reached the log:\n{log}");
    Ok(())
}

/// Every request is checked against the model's input first, every answer against its output or
/// its error shapes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_fit_botocores_ssm_and_secretsmanager_models() -> Result<()> {
    let cp = ControlPlane::start(None)?;
    let venv = awscli_venv()?;
    let ssm = ServiceModel::from_venv(&venv, "ssm", "2014-11-06")?;
    let asm = ServiceModel::from_venv(&venv, "secretsmanager", "2017-10-17")?;
    let id = SigningIdentity::emulator_default();
    let endpoint = cp.endpoint();
    let call = |model: &'static str, op: &'static str, input: Value| {
        let (m, service, target) = match model {
            "ssm" => (&ssm, "ssm", format!("AmazonSSM.{op}")),
            _ => (&asm, "secretsmanager", format!("secretsmanager.{op}")),
        };
        let id = &id;
        let endpoint = &endpoint;
        async move {
            m.validate_input(op, &input)?;
            let (status, body) =
                signed_post(endpoint, service, &target, input.to_string().as_bytes(), id).await?;
            if status == 200 {
                m.validate_output(op, &body)?;
            } else {
                m.validate_error(op, status, &body)?;
            }
            anyhow::Ok((status, body))
        }
    };
    let p = json!({"Name": "/shape/p", "Value": "v", "Type": "SecureString"});
    assert_eq!(call("ssm", "PutParameter", p.clone()).await?.0, 200);
    assert_eq!(call("ssm", "PutParameter", p).await?.0, 400);
    let sl =
        json!({"Name": "/shape/list", "Value": "a,b", "Type": "StringList", "Description": "d"});
    assert_eq!(call("ssm", "PutParameter", sl).await?.0, 200);
    let (_, g) = call(
        "ssm",
        "GetParameter",
        json!({"Name": "/shape/p", "WithDecryption": true}),
    )
    .await?;
    assert_eq!(g["Parameter"]["Value"], "v");
    assert_eq!(
        call("ssm", "GetParameter", json!({"Name": "/shape/p:1"}))
            .await?
            .0,
        200
    );
    assert_eq!(
        call("ssm", "GetParameter", json!({"Name": "/shape/p:4"}))
            .await?
            .0,
        400
    );
    assert_eq!(
        call("ssm", "GetParameter", json!({"Name": "/none"}))
            .await?
            .0,
        400
    );
    call(
        "ssm",
        "GetParameters",
        json!({"Names": ["/shape/p", "/none"]}),
    )
    .await?;
    let (_, page) = call(
        "ssm",
        "GetParametersByPath",
        json!({"Path": "/shape", "Recursive": true, "MaxResults": 1}),
    )
    .await?;
    assert!(page["NextToken"].is_string(), "{page}");
    call("ssm", "DescribeParameters", json!({"MaxResults": 1})).await?;
    call(
        "ssm",
        "DescribeParameters",
        json!({"ParameterFilters": [{"Key": "Name", "Option": "BeginsWith", "Values": ["/shape"]}]}),
    )
    .await?;
    assert_eq!(
        call("ssm", "DeleteParameter", json!({"Name": "/shape/p"}))
            .await?
            .0,
        200
    );
    assert_eq!(
        call("ssm", "DeleteParameter", json!({"Name": "/shape/p"}))
            .await?
            .0,
        400
    );
    call(
        "ssm",
        "DeleteParameters",
        json!({"Names": ["/shape/list", "/x"]}),
    )
    .await?;

    let token = "0123456789abcdef0123456789abcdef";
    let (_, c) = call(
        "asm",
        "CreateSecret",
        json!({"Name": "shape", "SecretString": "s", "ClientRequestToken": token, "Tags": [{"Key": "k", "Value": "v"}]}),
    )
    .await?;
    assert_eq!(c["VersionId"], token);
    assert_eq!(
        call("asm", "CreateSecret", json!({"Name": "shape"}))
            .await?
            .0,
        400
    );
    call(
        "asm",
        "CreateSecret",
        json!({"Name": "bin", "SecretBinary": "AAEC"}),
    )
    .await?;
    call("asm", "GetSecretValue", json!({"SecretId": "shape"})).await?;
    call("asm", "GetSecretValue", json!({"SecretId": "bin"})).await?;
    assert_eq!(
        call("asm", "GetSecretValue", json!({"SecretId": "none"}))
            .await?
            .0,
        400
    );
    call(
        "asm",
        "PutSecretValue",
        json!({"SecretId": "shape", "SecretString": "t"}),
    )
    .await?;
    call(
        "asm",
        "UpdateSecret",
        json!({"SecretId": "shape", "Description": "d"}),
    )
    .await?;
    call("asm", "DescribeSecret", json!({"SecretId": "shape"})).await?;
    let (_, l) = call("asm", "ListSecrets", json!({"MaxResults": 1})).await?;
    assert!(l["NextToken"].is_string(), "{l}");
    call(
        "asm",
        "ListSecrets",
        json!({"Filters": [{"Key": "name", "Values": ["sh"]}]}),
    )
    .await?;
    call("asm", "DeleteSecret", json!({"SecretId": "shape"})).await?;
    let (status, e) = call("asm", "GetSecretValue", json!({"SecretId": "shape"})).await?;
    assert_eq!(
        (status, e["__type"].as_str()),
        (400, Some("InvalidRequestException"))
    );
    call("asm", "DescribeSecret", json!({"SecretId": "shape"})).await?;
    call("asm", "RestoreSecret", json!({"SecretId": "shape"})).await?;
    call(
        "asm",
        "DeleteSecret",
        json!({"SecretId": "bin", "ForceDeleteWithoutRecovery": true}),
    )
    .await?;
    assert_eq!(
        call("asm", "DescribeSecret", json!({"SecretId": "bin"}))
            .await?
            .0,
        400
    );
    Ok(())
}

/// Temporary credentials from the emulator's STS sign Parameter Store and Secrets Manager calls
/// (the ECS agent reads secrets with the task execution role's temporary credentials).
#[test]
fn temporary_credentials_sign_secret_reads() -> Result<()> {
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    put(&aws, "/tmp-creds", "ok", "String")?;
    aws.run(&[
        "secretsmanager",
        "create-secret",
        "--name",
        "tc",
        "--secret-string",
        "ok2",
    ])?;
    let assumed = aws.run(&[
        "sts",
        "assume-role",
        "--role-arn",
        EXECUTION_ROLE,
        "--role-session-name",
        "secrets-test",
    ])?;
    let c = &assumed["Credentials"];
    let temp = cp
        .aws()?
        .credentials(
            c["AccessKeyId"].as_str().unwrap(),
            c["SecretAccessKey"].as_str().unwrap(),
        )
        .session_token(c["SessionToken"].as_str().unwrap());
    let p = temp.run(&["ssm", "get-parameter", "--name", "/tmp-creds"])?;
    assert_eq!(p["Parameter"]["Value"], "ok");
    let s = temp.run(&["secretsmanager", "get-secret-value", "--secret-id", "tc"])?;
    assert_eq!(s["SecretString"], "ok2");
    let forged = cp
        .aws()?
        .credentials(c["AccessKeyId"].as_str().unwrap(), "wrong");
    let err = forged.run_err(&["ssm", "get-parameter", "--name", "/tmp-creds"])?;
    assert!(err.error_code().is_some(), "{}", err.stderr);
    Ok(())
}

#[test]
fn parameters_and_secrets_survive_kill_9() -> Result<()> {
    let data = tempfile::tempdir()?;
    let addr = format!("127.0.0.1:{}", free_port()?);
    let mut cp = ControlPlane::start_on(&addr, Some(data.path()))?;
    let aws = cp.aws()?;
    put(&aws, "/persist/p", "before-kill", "SecureString")?;
    aws.run(&[
        "ssm",
        "put-parameter",
        "--name",
        "/persist/p",
        "--value",
        "before-kill-2",
        "--overwrite",
    ])?;
    aws.run(&[
        "secretsmanager",
        "create-secret",
        "--name",
        "persist",
        "--secret-string",
        "kept",
    ])?;
    let arn = aws.run(&[
        "secretsmanager",
        "describe-secret",
        "--secret-id",
        "persist",
    ])?["ARN"]
        .as_str()
        .unwrap()
        .to_string();
    aws.run(&[
        "secretsmanager",
        "delete-secret",
        "--secret-id",
        "persist",
        "--recovery-window-in-days",
        "7",
    ])?;
    cp.process.kill()?;
    drop(cp);

    let cp = ControlPlane::start_on(&addr, Some(data.path()))?;
    let aws = cp.aws()?;
    let p = aws.run(&[
        "ssm",
        "get-parameter",
        "--name",
        "/persist/p",
        "--with-decryption",
    ])?;
    assert_eq!(p["Parameter"]["Value"], "before-kill-2");
    assert_eq!(p["Parameter"]["Version"], 2);
    // Still scheduled for deletion after the restart, then restored with its ARN.
    let err = aws.run_err(&[
        "secretsmanager",
        "get-secret-value",
        "--secret-id",
        "persist",
    ])?;
    assert_eq!(err.error_code(), Some("InvalidRequestException"));
    aws.run(&["secretsmanager", "restore-secret", "--secret-id", &arn])?;
    let s = aws.run(&["secretsmanager", "get-secret-value", "--secret-id", &arn])?;
    assert_eq!(s["SecretString"], "kept");
    Ok(())
}

/// The task definition side: ECS's refusal without an execution role, `requiresAttributes`,
/// and the ACS payload's `secrets`, decoded with the agent's own wire types; then the payload's
/// execution role credentials read the values as the agent will.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_secrets_reach_the_agent_as_acs_sends_them() -> Result<()> {
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    let cluster = "secrets";
    aws.run(&["ecs", "create-cluster", "--cluster-name", cluster])?;
    put(&aws, "/app/db/password", "db-pw", "SecureString")?;
    let secret_arn = aws.run(&[
        "secretsmanager",
        "create-secret",
        "--name",
        "api-key",
        "--secret-string",
        "k-123",
    ])?["ARN"]
        .as_str()
        .unwrap()
        .to_string();
    put(&aws, "splunk-token", "tok", "SecureString")?;
    let container = json!([{
        "name": "app",
        "image": "127.0.0.1:5000/app:1",
        "memory": 64,
        "secrets": [
            {"name": "DB_PASSWORD", "valueFrom": "/app/db/password"},
            {"name": "API_KEY", "valueFrom": secret_arn},
        ],
        "logConfiguration": {
            "logDriver": "json-file",
            "options": {"max-size": "1m"},
            "secretOptions": [{"name": "splunk-token", "valueFrom": "splunk-token"}],
        },
    }]);
    let err = aws.run_err(&[
        "ecs",
        "register-task-definition",
        "--family",
        "with-secrets",
        "--container-definitions",
        &container.to_string(),
    ])?;
    assert_eq!(err.error_code(), Some("ClientException"));
    assert!(
        err.stderr.contains("When you are specifying container secrets, you must also specify a value for 'executionRoleArn'."),
        "{}",
        err.stderr
    );
    let def = register_task_definition_with(
        &aws,
        "with-secrets",
        &container,
        &["--execution-role-arn", EXECUTION_ROLE],
    )?;
    let described = aws.run(&["ecs", "describe-task-definition", "--task-definition", &def])?;
    let required: Vec<&str> = described["taskDefinition"]["requiresAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    for want in [
        "ecs.capability.secrets.ssm.environment-variables",
        "ecs.capability.secrets.asm.environment-variables",
        "ecs.capability.secrets.ssm.bootstrap.log-driver",
    ] {
        ensure!(required.contains(&want), "{want} not in {required:?}");
    }
    let caps: Vec<(&str, Option<&str>)> = required
        .iter()
        .copied()
        .chain(["com.amazonaws.ecs.capability.logging-driver.json-file"])
        .map(|n| (n, None))
        .collect();
    let agent =
        FakeAgent::register_with_attributes(&cp.endpoint(), cluster, 1024, 1024, &caps).await?;
    let mut acs = agent.connect().await?;
    let run = aws.run(&[
        "ecs",
        "run-task",
        "--cluster",
        cluster,
        "--task-definition",
        &def,
    ])?;
    ensure!(run["failures"] == json!([]), "{run}");
    let payload = acs
        .next_of("PayloadMessage", Duration::from_secs(10))
        .await?;
    let task = &payload["message"]["tasks"][0];
    let secrets = &task["containers"][0]["secrets"];
    assert_eq!(
        secrets,
        &json!([
            {"name": "DB_PASSWORD", "valueFrom": "/app/db/password", "region": "us-east-1",
             "provider": "ssm", "type": "ENVIRONMENT_VARIABLE", "target": "CONTAINER"},
            {"name": "API_KEY", "valueFrom": secret_arn, "region": "us-east-1",
             "provider": "asm", "type": "ENVIRONMENT_VARIABLE", "target": "CONTAINER"},
            {"name": "splunk-token", "valueFrom": "splunk-token", "region": "us-east-1",
             "provider": "ssm", "type": "BOOTSTRAP", "target": "LOG_DRIVER"},
        ])
    );
    // The agent's wire types read them.
    let typed: Vec<ecs_protocol::acs::Secret> = serde_json::from_value(secrets.clone())?;
    assert_eq!(typed.len(), 3);
    assert_eq!(
        typed[2].kind,
        Some(ecs_protocol::acs::SecretType::Bootstrap)
    );
    acs.ack(&payload).await?;

    // What the agent does next: GetParameters / GetSecretValue with the execution role.
    let creds = &task["executionRoleCredentials"];
    let exec = cp
        .aws()?
        .credentials(
            creds["accessKeyId"].as_str().unwrap(),
            creds["secretAccessKey"].as_str().unwrap(),
        )
        .session_token(creds["sessionToken"].as_str().unwrap());
    let got = exec.run(&[
        "ssm",
        "get-parameters",
        "--names",
        "/app/db/password",
        "splunk-token",
        "--with-decryption",
    ])?;
    assert_eq!(got["Parameters"][0]["Value"], "db-pw");
    assert_eq!(got["Parameters"][1]["Value"], "tok");
    let s = exec.run(&[
        "secretsmanager",
        "get-secret-value",
        "--secret-id",
        &secret_arn,
    ])?;
    assert_eq!(s["SecretString"], "k-123");
    Ok(())
}
