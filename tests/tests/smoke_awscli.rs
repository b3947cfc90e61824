//! Smoke tests of the AWS CLI helper: the pinned CLI runs, and it really calls the endpoint.

use std::net::TcpListener;
use std::time::Duration;

use anyhow::Result;
use ecs_e2e_tests::{AWSCLI_VERSION, AwsCli, AwsCliError, cache_dir};

#[test]
fn aws_cli_is_the_pinned_version_from_the_cache() -> Result<()> {
    let aws = AwsCli::new("http://127.0.0.1:1")?;
    let version = aws.version()?;
    assert!(
        version.starts_with(&format!("aws-cli/{AWSCLI_VERSION} ")),
        "{version}"
    );
    assert!(
        aws.program().starts_with(cache_dir()?),
        "{}",
        aws.program().display()
    );
    Ok(())
}

#[test]
fn aws_cli_calls_the_endpoint_and_reports_connection_errors() -> Result<()> {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let aws = AwsCli::new("http://127.0.0.1:1")?;
    let err = aws.run_err(&["sts", "get-caller-identity"])?;
    assert_ne!(err.exit_code, Some(0));
    assert!(
        err.stderr
            .contains("Could not connect to the endpoint URL: \"http://127.0.0.1:1/\""),
        "{err}"
    );
    assert_eq!(err.error_code(), None);

    // run() gives the same failure as a typed error inside the anyhow chain.
    let failure = aws.run(&["sts", "get-caller-identity"]).err();
    let typed = failure
        .as_ref()
        .and_then(|e| e.downcast_ref::<AwsCliError>());
    assert!(typed.is_some(), "{failure:?}");
    Ok(())
}

#[test]
fn aws_cli_signs_with_the_given_keys_and_region() -> Result<()> {
    // A listener that never answers: enough to see what the CLI sends, via its debug log.
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let aws = AwsCli::new(endpoint)?
        .region("eu-west-3")
        .credentials("AKIDTESTKEY", "test-secret")
        .timeout(Duration::from_secs(60));
    let out = aws.output(&["ecs", "list-clusters", "--cli-read-timeout", "1", "--debug"])?;
    assert!(!out.success());
    assert!(
        out.stderr.contains("Credential=AKIDTESTKEY/")
            && out.stderr.contains("/eu-west-3/ecs/aws4_request"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("x-amz-target:AmazonEC2ContainerServiceV20141113.ListClusters"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("Found credentials in environment variables"),
        "{}",
        out.stderr
    );
    Ok(())
}

#[test]
fn aws_error_codes_are_parsed_from_stderr() {
    let err = AwsCliError {
        args: vec!["ecs".into(), "describe-clusters".into()],
        exit_code: Some(254),
        stderr: "\nAn error occurred (ClusterNotFoundException) when calling the \
                 DescribeClusters operation: Cluster not found.\n"
            .into(),
    };
    assert_eq!(err.error_code(), Some("ClusterNotFoundException"));
}
