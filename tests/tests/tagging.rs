#![allow(clippy::unwrap_used, clippy::expect_used)]
//! ECS's tagging API on the emulator, with the real AWS CLI: tag, list and untag a cluster, a
//! task definition, a container instance, a task and a service; the tags show in the describe calls with
//! `--include TAGS`; ECS's refusals; every answer checked against botocore's `ecs` model; tags
//! survive a restart of the emulator.

use anyhow::Result;
use ecs_e2e_tests::fake_agent::FakeAgent;
use ecs_e2e_tests::shapes::ServiceModel;
use ecs_e2e_tests::{AwsCli, ControlPlane, register_task_definition, run_when_placed, unique};
use serde_json::json;

/// `list-tags-for-resource` as `[(key, value)]`, the answer checked against the model.
fn tags_of(aws: &AwsCli, model: &ServiceModel, arn: &str) -> Result<Vec<(String, String)>> {
    let out = aws.run(&["ecs", "list-tags-for-resource", "--resource-arn", arn])?;
    model.validate_output("ListTagsForResource", &out)?;
    let mut tags: Vec<(String, String)> = out["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["key"].as_str().unwrap().to_string(),
                t["value"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    tags.sort();
    Ok(tags)
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_on_clusters_task_definitions_instances_tasks_and_services() -> Result<()> {
    let model = ServiceModel::ecs()?;
    let data = tempfile::tempdir()?;
    let mut cp = ControlPlane::start(Some(data.path()))?;
    let addr = cp.addr.clone();
    let aws = cp.aws()?;
    let cluster = unique("tags");
    let created = aws.run(&[
        "ecs",
        "create-cluster",
        "--cluster-name",
        &cluster,
        "--tags",
        "key=team,value=web",
    ])?;
    let cluster_arn = created["cluster"]["clusterArn"]
        .as_str()
        .unwrap()
        .to_string();
    let agent = FakeAgent::register(&cp.endpoint(), &cluster, 2048, 4096).await?;
    let _acs = agent.connect().await?;
    let def = register_task_definition(
        &aws,
        &cluster,
        &json!([{"name": "app", "image": "127.0.0.1:5000/app:1", "memory": 64}]),
    )?;
    let task = run_when_placed(&aws, &cluster, &def)?;
    let service = aws.run(&[
        "ecs",
        "create-service",
        "--cluster",
        &cluster,
        "--service-name",
        "web",
        "--task-definition",
        &def,
        "--desired-count",
        "0",
    ])?["service"]["serviceArn"]
        .as_str()
        .unwrap()
        .to_string();

    for (arn, op) in [
        (cluster_arn.as_str(), "cluster"),
        (def.as_str(), "task definition"),
        (agent.instance_arn.as_str(), "container instance"),
        (task.as_str(), "task"),
        (service.as_str(), "service"),
    ] {
        let before = tags_of(&aws, &model, arn)?;
        let out = aws.run(&[
            "ecs",
            "tag-resource",
            "--resource-arn",
            arn,
            "--tags",
            "key=env,value=prod",
            "key=team,value=platform",
        ])?;
        // An empty answer (`{}`, as the model's TagResourceResponse): the CLI prints nothing.
        assert!(out.is_null(), "{out}");
        assert_eq!(
            tags_of(&aws, &model, arn)?,
            pairs(&[("env", "prod"), ("team", "platform")]),
            "{op}: tags added, team replaced (before: {before:?})"
        );
        let out = aws.run(&[
            "ecs",
            "untag-resource",
            "--resource-arn",
            arn,
            "--tag-keys",
            "team",
            "never-there",
        ])?;
        assert!(out.is_null(), "{out}");
        assert_eq!(
            tags_of(&aws, &model, arn)?,
            pairs(&[("env", "prod")]),
            "{op}"
        );
    }

    // The describe calls show them with --include TAGS.
    let described = aws.run(&[
        "ecs",
        "describe-clusters",
        "--clusters",
        &cluster,
        "--include",
        "TAGS",
    ])?;
    model.validate_output("DescribeClusters", &described)?;
    assert_eq!(
        described["clusters"][0]["tags"],
        json!([{"key": "env", "value": "prod"}])
    );
    let described = aws.run(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        &def,
        "--include",
        "TAGS",
    ])?;
    assert_eq!(described["tags"], json!([{"key": "env", "value": "prod"}]));
    let described = aws.run(&[
        "ecs",
        "describe-tasks",
        "--cluster",
        &cluster,
        "--tasks",
        &task,
        "--include",
        "TAGS",
    ])?;
    assert_eq!(
        described["tasks"][0]["tags"],
        json!([{"key": "env", "value": "prod"}])
    );

    // ECS's refusals.
    let refused = |args: &[&str], code: &str, words: &str| -> Result<()> {
        let err = aws.run_err(args)?;
        assert_eq!(err.error_code(), Some(code), "{}", err.stderr);
        assert!(err.stderr.contains(words), "{}", err.stderr);
        Ok(())
    };
    refused(
        &[
            "ecs",
            "list-tags-for-resource",
            "--resource-arn",
            "arn:aws:ecr:us-east-1:123456789012:repository/r",
        ],
        "InvalidParameterException",
        "The ARN provided is invalid.",
    )?;
    refused(
        &[
            "ecs",
            "tag-resource",
            "--resource-arn",
            &cluster_arn.replace(&cluster, "nowhere"),
            "--tags",
            "key=a,value=b",
        ],
        "ClusterNotFoundException",
        "Cluster not found.",
    )?;
    refused(
        &[
            "ecs",
            "tag-resource",
            "--resource-arn",
            &cluster_arn,
            "--tags",
            "key=aws:owner,value=me",
        ],
        "InvalidParameterException",
        "reserved prefix 'aws:'",
    )?;
    let many: Vec<String> = (0..50).map(|i| format!("key=k{i},value=v")).collect();
    let mut args = vec![
        "ecs",
        "tag-resource",
        "--resource-arn",
        &cluster_arn,
        "--tags",
    ];
    args.extend(many.iter().map(String::as_str));
    refused(&args, "InvalidParameterException", "at most 50 tags")?;
    assert_eq!(
        tags_of(&aws, &model, &cluster_arn)?,
        pairs(&[("env", "prod")])
    );

    // Tags are state: a kill -9 and restart keeps them.
    cp.process.kill()?;
    let cp = ControlPlane::start_on(&addr, Some(data.path()))?;
    let aws = cp.aws()?;
    for arn in [&cluster_arn, &def, &agent.instance_arn, &task, &service] {
        assert_eq!(
            tags_of(&aws, &model, arn)?,
            pairs(&[("env", "prod")]),
            "{arn}"
        );
    }
    Ok(())
}
