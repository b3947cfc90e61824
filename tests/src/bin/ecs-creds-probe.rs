//! `ecs-creds-probe STS_ENDPOINT`: what an application built with aws-sdk-rust does in an ECS
//! task. It gets credentials from aws-config's ECS provider (`AWS_CONTAINER_CREDENTIALS_FULL_URI`
//! or `_RELATIVE_URI` in its environment), calls STS GetCallerIdentity at `STS_ENDPOINT` with
//! them, and prints `{"AccessKeyId": ..., "Arn": ...}`. The e2e tests run it against the agent's
//! credentials endpoint and the emulator.

use anyhow::{Context, Result};
use aws_config::BehaviorVersion;
use aws_credential_types::provider::ProvideCredentials;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let endpoint = std::env::args()
        .nth(1)
        .context("usage: ecs-creds-probe STS_ENDPOINT")?;
    let provider = aws_config::ecs::EcsCredentialsProvider::builder().build();
    let credentials = provider
        .provide_credentials()
        .await
        .context("the ECS credentials provider failed")?;
    let config = aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(provider)
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .load()
        .await;
    let identity = aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sts::error::DisplayErrorContext(e)))?;
    println!(
        "{}",
        serde_json::json!({
            "AccessKeyId": credentials.access_key_id(),
            "Arn": identity.arn(),
        })
    );
    Ok(())
}
