//! Environment files (`environmentFiles` of a container definition, `type: s3`): objects
//! `arn:aws:s3:::<bucket>/<key>` fetched from S3 with the task execution role's credentials
//! before the task's containers are created (a task resource, as in the reference), read as
//! `KEY=VALUE` lines, and merged into the container's environment under the variables it already
//! has (`environment` wins; among files, the first one listed wins).
//!
//! What it must not do: persist or log the files' contents (they often hold secrets). They live
//! in the task actor's memory only, like [`crate::secrets`] values, and are fetched again after an
//! agent restart if a container still has to be created.

use std::collections::BTreeMap;

use ecs_protocol::acs::{Container, EnvironmentFileType, Task};

use crate::aws_json::AwsAccess;

/// Why a task's environment files could not be fetched (the reference's words).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvFilesError {
    /// The task has environment files but ACS sent no execution role credentials.
    #[error("environment file resource: unable to find execution role credentials")]
    NoCredentials,
    /// Not an S3 object ARN.
    #[error(
        "unable to parse bucket and key from s3 ARN specified in environmentFile {value}, error: invalid s3 arn: {value}"
    )]
    BadArn {
        /// The `value` as given.
        value: String,
    },
    /// A type other than `s3`.
    #[error("environmentFile {value}: type {kind} is not supported")]
    Unsupported {
        /// The `value` as given.
        value: String,
        /// The type.
        kind: String,
    },
    /// GetObject failed; every failure of the task, joined with `;` as the reference does.
    #[error("{0}")]
    Download(String),
}

/// The variables of each container's files, by container name, in the files' order. Never
/// persisted; `Debug` shows the variable names only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EnvFileValues(BTreeMap<String, Vec<BTreeMap<String, String>>>);

impl std::fmt::Debug for EnvFileValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: BTreeMap<&String, Vec<&String>> = self
            .0
            .iter()
            .map(|(c, files)| (c, files.iter().flat_map(BTreeMap::keys).collect()))
            .collect();
        f.debug_tuple("EnvFileValues").field(&names).finish()
    }
}

/// `arn:<partition>:s3:::<bucket>/<key>` as (bucket, key).
pub fn parse_s3_arn(value: &str) -> Result<(String, String), EnvFilesError> {
    let bad = || EnvFilesError::BadArn {
        value: value.to_string(),
    };
    let rest = value.strip_prefix("arn:").ok_or_else(bad)?;
    let (partition, rest) = rest.split_once(':').ok_or_else(bad)?;
    let path = rest.strip_prefix("s3:::").ok_or_else(bad)?;
    let (bucket, key) = path.split_once('/').ok_or_else(bad)?;
    if partition.is_empty() || bucket.is_empty() || key.is_empty() {
        return Err(bad());
    }
    Ok((bucket.to_string(), key.to_string()))
}

/// An environment file's variables, as the reference reads them: lines starting with `#` are
/// comments, lines without `=` are skipped, the first `=` splits key and value (the value kept
/// as it is), a line with an empty key is skipped, a later line wins over an earlier one.
pub fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        if let Some((key, value)) = line.split_once('=')
            && !key.is_empty()
        {
            vars.insert(key.to_string(), value.to_string());
        }
    }
    vars
}

/// True when any container of the task lists an environment file.
pub fn task_has_env_files(task: &Task) -> bool {
    task.containers()
        .iter()
        .any(|c| c.environment_files.as_ref().is_some_and(|f| !f.is_empty()))
}

/// Adds a container's file variables to `env` (`KEY=VALUE` entries), under the names `env`
/// already has: `environment` wins, then the first file that sets a name.
pub fn apply(container: &Container, values: &EnvFileValues, env: &mut Vec<String>) {
    let name = container.name.clone().unwrap_or_default();
    for file in values.0.get(&name).into_iter().flatten() {
        for (key, value) in file {
            let prefix = format!("{key}=");
            if !env.iter().any(|e| e.starts_with(&prefix)) {
                env.push(format!("{key}={value}"));
            }
        }
    }
}

/// Fetches environment files from S3.
#[derive(Debug, Clone, Default)]
pub struct EnvFilesFetcher {
    /// Endpoint, region (where a bucket is looked for first) and client.
    aws: AwsAccess,
}

impl EnvFilesFetcher {
    /// Calls go where `aws` says.
    pub fn new(aws: AwsAccess) -> Self {
        EnvFilesFetcher { aws }
    }

    /// Every container's files of `task`, fetched at once with its execution role credentials.
    pub async fn fetch(&self, task: &Task) -> Result<EnvFileValues, EnvFilesError> {
        let mut wanted = Vec::new();
        for c in task.containers() {
            for (index, f) in c.environment_files.iter().flatten().enumerate() {
                let value = f.value.clone().unwrap_or_default();
                match &f.kind {
                    None | Some(EnvironmentFileType::S3) => {}
                    Some(other) => {
                        return Err(EnvFilesError::Unsupported {
                            value,
                            kind: other.as_str().to_string(),
                        });
                    }
                }
                let (bucket, key) = parse_s3_arn(&value)?;
                wanted.push((c.name.clone().unwrap_or_default(), index, bucket, key));
            }
        }
        let mut values = EnvFileValues::default();
        if wanted.is_empty() {
            return Ok(values);
        }
        let creds = task
            .execution_role_credentials
            .as_ref()
            .and_then(crate::secrets::credentials)
            .ok_or(EnvFilesError::NoCredentials)?;
        let client = self
            .aws
            .client()
            .map_err(|e| EnvFilesError::Download(e.to_string()))?;
        let calls = wanted.iter().map(|(_, _, bucket, key)| {
            let creds = &creds;
            async move {
                client
                    .s3_get_object(self.aws.s3_endpoint(), bucket, key, self.aws.region(), creds)
                    .await
                    .map_err(|e| {
                        format!(
                            "unable to download env file with key {key} from bucket {bucket}, error: {e}"
                        )
                    })
            }
        });
        let results = futures_util::future::join_all(calls).await;
        let mut errors = Vec::new();
        for ((container, index, _, _), result) in wanted.iter().zip(results) {
            match result {
                Ok(bytes) => {
                    let files = values.0.entry(container.clone()).or_default();
                    if files.len() <= *index {
                        files.resize(*index + 1, BTreeMap::new());
                    }
                    files[*index] = parse_env_file(&String::from_utf8_lossy(&bytes));
                }
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(EnvFilesError::Download(errors.join(";")));
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::{Arc, Mutex};

    #[test]
    fn arns_and_files_are_read_as_the_reference_reads_them() {
        assert_eq!(
            parse_s3_arn("arn:aws:s3:::my-bucket/dir/app.env").unwrap(),
            ("my-bucket".to_string(), "dir/app.env".to_string())
        );
        for bad in [
            "s3://b/k",
            "arn:aws:s3:::bucket",
            "arn:aws:s3:::/k",
            "arn:aws:ssm:::b/k",
        ] {
            assert!(parse_s3_arn(bad).is_err(), "{bad}");
        }
        let vars = parse_env_file(
            "# comment\nA=1\nB=x=y\nnot a variable\n=empty key\nC=\n A=spaced\nA=2\n",
        );
        assert_eq!(
            vars,
            BTreeMap::from([
                ("A".to_string(), "2".to_string()),
                (" A".to_string(), "spaced".to_string()),
                ("B".to_string(), "x=y".to_string()),
                ("C".to_string(), String::new()),
            ])
        );
    }

    #[test]
    fn environment_wins_then_the_first_file() {
        let c = Container {
            name: Some("app".into()),
            ..Container::default()
        };
        let mut values = EnvFileValues::default();
        values.0.insert(
            "app".into(),
            vec![
                BTreeMap::from([("A".into(), "file1".into()), ("B".into(), "file1".into())]),
                BTreeMap::from([("B".into(), "file2".into()), ("D".into(), "hunter2".into())]),
            ],
        );
        let mut env = vec!["A=environment".to_string()];
        apply(&c, &values, &mut env);
        assert_eq!(env, ["A=environment", "B=file1", "D=hunter2"]);
        assert!(!format!("{values:?}").contains("hunter2"));
    }

    /// An S3 stand-in: objects by path, and the access keys calls were signed with.
    async fn fake_s3(objects: &[(&str, &str)]) -> (String, Arc<Mutex<Vec<String>>>) {
        let objects: BTreeMap<String, String> = objects
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let keys: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = Arc::clone(&keys);
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap| {
                let objects = objects.clone();
                let seen = Arc::clone(&seen);
                async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    let key = auth
                        .split("Credential=")
                        .nth(1)
                        .and_then(|c| c.split('/').next())
                        .unwrap_or_default();
                    seen.lock().unwrap().push(key.to_string());
                    assert!(auth.contains("/s3/aws4_request"), "{auth}");
                    assert!(headers.contains_key("x-amz-content-sha256"));
                    match objects.get(uri.path()) {
                        Some(body) => (axum::http::StatusCode::OK, body.clone()),
                        None => (
                            axum::http::StatusCode::NOT_FOUND,
                            "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>".to_string(),
                        ),
                    }
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), keys)
    }

    fn task(files: serde_json::Value, with_creds: bool) -> Task {
        let mut t = json!({
            "arn": "arn:aws:ecs:us-east-1:123456789012:task/c/0123",
            "containers": [{"name": "app", "environmentFiles": files}],
        });
        if with_creds {
            t["executionRoleCredentials"] = json!({
                "credentialsId": "id-1", "accessKeyId": "ASIAEXEC", "secretAccessKey": "s",
                "sessionToken": "t",
            });
        }
        serde_json::from_value(t).unwrap()
    }

    #[tokio::test]
    async fn files_are_fetched_with_the_execution_role_and_failures_name_bucket_and_key() {
        let (endpoint, keys) = fake_s3(&[
            ("/cfg/app.env", "A=1\nB=2\n"),
            ("/cfg/dir/more%20vars.env", "B=3\nC=4\n"),
        ])
        .await;
        let fetcher = EnvFilesFetcher::new(AwsAccess::new(Some(endpoint), "us-east-1"));
        let t = task(
            json!([{"value": "arn:aws:s3:::cfg/app.env", "type": "s3"},
                   {"value": "arn:aws:s3:::cfg/dir/more vars.env", "type": "s3"}]),
            true,
        );
        let values = fetcher.fetch(&t).await.unwrap();
        let mut env = Vec::new();
        apply(&t.containers()[0], &values, &mut env);
        env.sort();
        assert_eq!(env, ["A=1", "B=2", "C=4"]);
        assert!(keys.lock().unwrap().iter().all(|k| k == "ASIAEXEC"));

        let missing = task(
            json!([{"value": "arn:aws:s3:::cfg/nope.env", "type": "s3"}]),
            true,
        );
        assert_eq!(
            fetcher.fetch(&missing).await.unwrap_err().to_string(),
            "unable to download env file with key nope.env from bucket cfg, error: NoSuchKey: The specified key does not exist."
        );
        let no_role = task(
            json!([{"value": "arn:aws:s3:::cfg/app.env", "type": "s3"}]),
            false,
        );
        assert_eq!(
            fetcher.fetch(&no_role).await.unwrap_err(),
            EnvFilesError::NoCredentials
        );
    }
}
