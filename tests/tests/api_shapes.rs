#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The emulator's ECS answers checked against botocore's model of ECS (the one the pinned AWS CLI
//! uses), member by member: a misspelled member, a wrong type or an unknown enum value fails.
//!
//! The main test drives a whole flow (clusters, a container instance, attributes, task
//! definitions, tasks placed, reported running with a port binding, stopped) with signed requests
//! shaped as the AWS CLI and the agent send them, and checks the raw JSON of every answer (the
//! CLI's printed output is botocore-parsed, so it would hide wire errors such as timestamps as
//! strings). Every request is checked against the input shape first, so the test's own requests
//! are right. A second test runs the real CLI with `--debug` and checks the request bodies it
//! sends and the raw response bodies it receives.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use ecs_e2e_tests::ControlPlane;
use ecs_e2e_tests::cli_debug::cli_exchanges;
use ecs_e2e_tests::fake_agent::{
    AcsConnection, FakeAgent, SigningIdentity, ecs_client, signed_post,
};
use ecs_e2e_tests::shapes::ServiceModel;
use serde_json::{Value, json};

/// Every ECS operation the emulator serves but the service ones (checked by `services.rs`); the
/// flow must check each one's answer.
const IMPLEMENTED: &[&str] = &[
    "CreateCluster",
    "DeleteCluster",
    "DescribeClusters",
    "ListClusters",
    "RegisterContainerInstance",
    "DeregisterContainerInstance",
    "DescribeContainerInstances",
    "ListContainerInstances",
    "UpdateContainerInstancesState",
    "PutAttributes",
    "DeleteAttributes",
    "ListAttributes",
    "RegisterTaskDefinition",
    "DeregisterTaskDefinition",
    "DescribeTaskDefinition",
    "ListTaskDefinitions",
    "ListTaskDefinitionFamilies",
    "RunTask",
    "StartTask",
    "StopTask",
    "DescribeTasks",
    "ListTasks",
    "SubmitTaskStateChange",
    "SubmitContainerStateChange",
    "DiscoverPollEndpoint",
];

/// Members that ECS exchanges with the agent and botocore's public model lacks: the reference
/// agent builds its client from its own model (amazon-ecs-agent `aws-sdk-go-v2/aws-models/
/// ecs.json`), which has these three beyond botocore's. `(structure, member, shape)`.
const AGENT_MODEL_EXTRAS: &[(&str, &str, &str)] = &[
    ("DiscoverPollEndpointRequest", "zoneId", "String"),
    (
        "DiscoverPollEndpointResponse",
        "systemLogsEndpoint",
        "String",
    ),
    ("RegisterContainerInstanceRequest", "clientToken", "String"),
];

/// botocore's ECS model plus [`AGENT_MODEL_EXTRAS`].
fn ecs_model() -> Result<ServiceModel> {
    let mut model = ServiceModel::ecs()?;
    for (shape, member, target) in AGENT_MODEL_EXTRAS {
        model = model.add_member(shape, member, target)?;
    }
    Ok(model)
}

/// A client that checks what it sends and what comes back against the model. Request
/// violations stop the test at once (the test is wrong); answer violations are collected so
/// that one run lists all of them.
struct CheckedEcs {
    model: ServiceModel,
    endpoint: String,
    id: SigningIdentity,
    target_prefix: String,
    violations: Mutex<Vec<String>>,
    checked: Mutex<BTreeSet<String>>,
}

impl CheckedEcs {
    fn new(model: ServiceModel, endpoint: String) -> Result<Self> {
        let target_prefix = model
            .target_prefix()
            .context("the model has no targetPrefix")?
            .to_owned();
        Ok(CheckedEcs {
            model,
            endpoint,
            id: SigningIdentity::emulator_default(),
            target_prefix,
            violations: Mutex::new(Vec::new()),
            checked: Mutex::new(BTreeSet::new()),
        })
    }

    async fn post(&self, op: &str, input: &Value) -> Result<(u16, Value)> {
        self.model
            .validate_input(op, input)
            .context("the test's own request does not fit the model")?;
        signed_post(
            &self.endpoint,
            "ecs",
            &format!("{}.{op}", self.target_prefix),
            input.to_string().as_bytes(),
            &self.id,
        )
        .await
        .with_context(|| format!("{op} {input}"))
    }

    /// Calls `op`, which must succeed, and records every way its answer misfits the model.
    async fn call(&self, op: &str, input: Value) -> Result<Value> {
        let (status, body) = self.post(op, &input).await?;
        ensure!(status == 200, "{op} {input} answered {status}: {body}");
        self.record(op, self.model.validate_output(op, &body));
        Ok(body)
    }

    /// Calls `op`, which must fail, and records every way the error misfits the model.
    async fn call_err(&self, op: &str, input: Value) -> Result<Value> {
        let (status, body) = self.post(op, &input).await?;
        ensure!(
            status != 200,
            "{op} {input} succeeded but the test expected an error: {body}"
        );
        self.record(op, self.model.validate_error(op, status, &body));
        Ok(body)
    }

    fn record(&self, op: &str, result: Result<()>) {
        self.checked.lock().unwrap().insert(op.to_owned());
        if let Err(e) = result {
            self.violations.lock().unwrap().push(format!("{e:#}"));
        }
    }

    /// Fails when an answer did not fit or an implemented operation was never checked.
    fn finish(&self) -> Result<()> {
        let checked = self.checked.lock().unwrap();
        let unchecked: Vec<&&str> = IMPLEMENTED
            .iter()
            .filter(|op| !checked.contains(**op))
            .collect();
        let violations = self.violations.lock().unwrap();
        ensure!(
            violations.is_empty(),
            "the emulator's answers do not fit {}:\n{}",
            self.model.source().display(),
            violations.join("\n")
        );
        ensure!(unchecked.is_empty(), "the flow never checked {unchecked:?}");
        Ok(())
    }
}

fn now_epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Result<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .with_context(|| format!("no string at {pointer} in {v}"))
}

/// Reads ACS frames until a task payload, acks it and returns it.
async fn next_payload(acs: &mut AcsConnection) -> Result<Value> {
    let payload = acs
        .next_of("PayloadMessage", Duration::from_secs(10))
        .await?;
    acs.ack(&payload).await?;
    Ok(payload)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_of_the_emulator_fits_botocores_model() -> Result<()> {
    let cp = ControlPlane::start(None)?;
    let ecs = CheckedEcs::new(ecs_model()?, cp.endpoint())?;
    let cluster = "shapes";
    let tags = json!([{"key": "team", "value": "web"}, {"key": "env", "value": "test"}]);

    // Clusters.
    ecs.call(
        "CreateCluster",
        json!({
            "clusterName": cluster,
            "tags": tags,
            "settings": [{"name": "containerInsights", "value": "enabled"}],
        }),
    )
    .await?;
    ecs.call("CreateCluster", json!({"clusterName": "scratch"}))
        .await?;
    ecs.call(
        "DescribeClusters",
        json!({
            "clusters": [cluster, "arn:aws:ecs:us-east-1:123456789012:cluster/missing"],
            "include": ["ATTACHMENTS", "CONFIGURATIONS", "SETTINGS", "STATISTICS", "TAGS"],
        }),
    )
    .await?;
    ecs.call("DescribeClusters", json!({})).await?;
    ecs.call("ListClusters", json!({})).await?;
    let page = ecs.call("ListClusters", json!({"maxResults": 1})).await?;
    if let Some(token) = page["nextToken"].as_str() {
        ecs.call("ListClusters", json!({"nextToken": token}))
            .await?;
    }

    // A container instance, registered as the agent registers it.
    let registered = ecs
        .call(
            "RegisterContainerInstance",
            json!({
                "cluster": cluster,
                "instanceIdentityDocument": "",
                "instanceIdentityDocumentSignature": "",
                "totalResources": [
                    {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
                    {"name": "MEMORY", "type": "INTEGER", "integerValue": 3900},
                    {"name": "PORTS", "type": "STRINGSET",
                     "stringSetValue": ["22", "2375", "2376", "51678", "51679"]},
                    {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []},
                ],
                "versionInfo": {
                    "agentVersion": "1.105.1",
                    "agentHash": "e2etest",
                    "dockerVersion": "DockerVersion: 20.10.24",
                },
                "attributes": [
                    {"name": "ecs.capability.external"},
                    {"name": "ecs.os-type", "value": "linux"},
                    {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.41"},
                ],
                "tags": [{"key": "host", "value": "a"}],
            }),
        )
        .await?;
    let instance_arn = str_at(&registered, "/containerInstance/containerInstanceArn")?.to_owned();
    let agent = FakeAgent {
        ecs: ecs_client(&cp.endpoint(), &ecs.id),
        id: ecs.id.clone(),
        cluster: cluster.to_owned(),
        instance_arn: instance_arn.clone(),
    };
    let describe_instance = json!({
        "cluster": cluster,
        "containerInstances": [instance_arn],
        "include": ["TAGS", "CONTAINER_INSTANCE_HEALTH"],
    });
    ecs.call("DescribeContainerInstances", describe_instance.clone())
        .await?;
    ecs.call(
        "DescribeContainerInstances",
        json!({"cluster": cluster, "containerInstances": ["0123456789abcdef0123456789abcdef"]}),
    )
    .await?;
    ecs.call("ListContainerInstances", json!({"cluster": cluster}))
        .await?;
    ecs.call(
        "ListContainerInstances",
        json!({"cluster": cluster, "status": "ACTIVE", "maxResults": 10}),
    )
    .await?;

    // Attributes.
    ecs.call(
        "PutAttributes",
        json!({
            "cluster": cluster,
            "attributes": [{
                "name": "stack", "value": "prod",
                "targetType": "container-instance", "targetId": instance_arn,
            }],
        }),
    )
    .await?;
    ecs.call(
        "ListAttributes",
        json!({"cluster": cluster, "targetType": "container-instance"}),
    )
    .await?;
    ecs.call(
        "ListAttributes",
        json!({
            "cluster": cluster, "targetType": "container-instance",
            "attributeName": "stack", "attributeValue": "prod", "maxResults": 5,
        }),
    )
    .await?;
    ecs.call(
        "DeleteAttributes",
        json!({
            "cluster": cluster,
            "attributes": [{
                "name": "stack", "targetType": "container-instance", "targetId": instance_arn,
            }],
        }),
    )
    .await?;

    // Task definitions.
    let every_field: Value = serde_json::from_str(&std::fs::read_to_string(
        ecs_e2e_tests::every_field_fixture(),
    )?)?;
    ecs.call("RegisterTaskDefinition", every_field.clone())
        .await?;
    ecs.call("RegisterTaskDefinition", every_field).await?;
    let web = ecs
        .call(
            "RegisterTaskDefinition",
            json!({
                "family": "web",
                "containerDefinitions": [{
                    "name": "web", "image": "127.0.0.1:5000/web:1", "memory": 256, "cpu": 256,
                    "essential": true,
                    "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}],
                }],
                "tags": tags,
            }),
        )
        .await?;
    let web_arn = str_at(&web, "/taskDefinition/taskDefinitionArn")?.to_owned();
    ecs.call(
        "DescribeTaskDefinition",
        json!({"taskDefinition": "every-field", "include": ["TAGS"]}),
    )
    .await?;
    ecs.call("DescribeTaskDefinition", json!({"taskDefinition": web_arn}))
        .await?;
    ecs.call("ListTaskDefinitions", json!({})).await?;
    ecs.call(
        "ListTaskDefinitions",
        json!({"familyPrefix": "every", "status": "ACTIVE", "sort": "DESC", "maxResults": 1}),
    )
    .await?;
    ecs.call("ListTaskDefinitionFamilies", json!({})).await?;
    ecs.call(
        "ListTaskDefinitionFamilies",
        json!({"familyPrefix": "w", "status": "ALL", "maxResults": 1}),
    )
    .await?;

    // Not connected yet: RunTask answers with a failure.
    let run = json!({
        "cluster": cluster,
        "taskDefinition": web_arn,
        "count": 1,
        "startedBy": "shapes-test",
        "group": "family:web",
        "launchType": "EXTERNAL",
        "tags": tags,
    });
    let out = ecs.call("RunTask", run.clone()).await?;
    ensure!(out["failures"][0]["reason"] == "AGENT", "{out}");

    // The agent connects.
    ecs.call(
        "DiscoverPollEndpoint",
        json!({"containerInstance": instance_arn, "cluster": cluster}),
    )
    .await?;
    let mut acs = agent.connect().await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let out = ecs
            .call("DescribeContainerInstances", describe_instance.clone())
            .await?;
        if out["containerInstances"][0]["agentConnected"] == true {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("agentConnected is still not true after 10 s: {out}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // RunTask places a task; the agent reports it RUNNING with a port binding.
    let out = ecs.call("RunTask", run).await?;
    let run_arn = str_at(&out, "/tasks/0/taskArn")?.to_owned();
    next_payload(&mut acs).await?;
    ecs.call(
        "SubmitTaskStateChange",
        json!({
            "cluster": cluster,
            "task": run_arn,
            "status": "RUNNING",
            "containers": [{
                "containerName": "web",
                "runtimeId": format!("{:064x}", 42),
                "status": "RUNNING",
                "networkBindings": [{
                    "bindIP": "0.0.0.0", "containerPort": 8080, "hostPort": 32768,
                    "protocol": "tcp",
                }],
            }],
            "pullStartedAt": now_epoch(),
            "pullStoppedAt": now_epoch(),
        }),
    )
    .await?;

    // StartTask on the instance; the agent reports its container with the older call.
    let out = ecs
        .call(
            "StartTask",
            json!({
                "cluster": cluster,
                "taskDefinition": "web:1",
                "containerInstances": [instance_arn],
                "startedBy": "shapes-test",
                "tags": tags,
            }),
        )
        .await?;
    let start_arn = str_at(&out, "/tasks/0/taskArn")?.to_owned();
    next_payload(&mut acs).await?;
    ecs.call(
        "SubmitContainerStateChange",
        json!({
            "cluster": cluster,
            "task": start_arn,
            "containerName": "web",
            "runtimeId": format!("{:064x}", 43),
            "status": "RUNNING",
            "networkBindings": [{
                "bindIP": "0.0.0.0", "containerPort": 8080, "hostPort": 32769, "protocol": "tcp",
            }],
        }),
    )
    .await?;

    let describe_tasks = json!({
        "cluster": cluster,
        "tasks": [run_arn, start_arn, "0123456789abcdef0123456789abcdef"],
        "include": ["TAGS"],
    });
    let out = ecs.call("DescribeTasks", describe_tasks.clone()).await?;
    ensure!(
        out["tasks"][0]["containers"][0]["networkBindings"][0]["hostPort"] == 32768,
        "the binding reported by the agent is not in DescribeTasks: {out}"
    );
    ecs.call("ListTasks", json!({"cluster": cluster})).await?;
    ecs.call(
        "ListTasks",
        json!({
            "cluster": cluster, "containerInstance": instance_arn, "family": "web",
            "startedBy": "shapes-test", "desiredStatus": "RUNNING", "maxResults": 1,
        }),
    )
    .await?;

    // Both tasks are stopped; the agent reports them STOPPED with an exit code.
    for (task, runtime) in [(&run_arn, 42), (&start_arn, 43)] {
        ecs.call(
            "StopTask",
            json!({"cluster": cluster, "task": task, "reason": "test is done"}),
        )
        .await?;
        next_payload(&mut acs).await?;
        ecs.call(
            "SubmitTaskStateChange",
            json!({
                "cluster": cluster,
                "task": task,
                "status": "STOPPED",
                "reason": "Essential container in task exited",
                "containers": [{
                    "containerName": "web",
                    "runtimeId": format!("{runtime:064x}"),
                    "status": "STOPPED",
                    "exitCode": 143,
                    "reason": "stopped by the test",
                }],
                "executionStoppedAt": now_epoch(),
            }),
        )
        .await?;
    }
    let out = ecs.call("DescribeTasks", describe_tasks).await?;
    ensure!(out["tasks"][0]["lastStatus"] == "STOPPED", "{out}");
    ecs.call(
        "ListTasks",
        json!({"cluster": cluster, "desiredStatus": "STOPPED"}),
    )
    .await?;

    // Draining and back; deregistrations; deleting the empty cluster.
    for status in ["DRAINING", "ACTIVE"] {
        ecs.call(
            "UpdateContainerInstancesState",
            json!({
                "cluster": cluster,
                "containerInstances": [instance_arn, "0123456789abcdef0123456789abcdef"],
                "status": status,
            }),
        )
        .await?;
    }
    ecs.call(
        "DeregisterTaskDefinition",
        json!({"taskDefinition": "every-field:1"}),
    )
    .await?;
    ecs.call(
        "DescribeTaskDefinition",
        json!({"taskDefinition": "every-field:1"}),
    )
    .await?;
    ecs.call(
        "ListTaskDefinitions",
        json!({"familyPrefix": "every-field", "status": "INACTIVE"}),
    )
    .await?;
    ecs.call(
        "DeregisterContainerInstance",
        json!({"cluster": cluster, "containerInstance": instance_arn, "force": true}),
    )
    .await?;
    ecs.call("DescribeContainerInstances", describe_instance)
        .await?;
    ecs.call("DeleteCluster", json!({"cluster": "scratch"}))
        .await?;
    ecs.call(
        "DescribeClusters",
        json!({"clusters": ["scratch"], "include": ["TAGS"]}),
    )
    .await?;

    // Modeled errors: the code must be one the operation lists, the body its exception's.
    ecs.call_err("ListTasks", json!({"cluster": "nope"}))
        .await?;
    ecs.call_err(
        "DescribeTaskDefinition",
        json!({"taskDefinition": "no-such-family:1"}),
    )
    .await?;
    ecs.call_err(
        "StopTask",
        json!({"cluster": cluster, "task": "0123456789abcdef0123456789abcdef"}),
    )
    .await?;
    ecs.call_err(
        "RunTask",
        json!({"cluster": "scratch", "taskDefinition": "web:1"}),
    )
    .await?;

    acs.close().await?;
    ecs.finish()
}

/// The validator is not vacuous: a real answer with one member misspelled, one enum value
/// changed and one timestamp turned into a string fails, naming each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelled_member_in_a_real_answer_fails() -> Result<()> {
    let cp = ControlPlane::start(None)?;
    let ecs = CheckedEcs::new(ecs_model()?, cp.endpoint())?;
    let mut out = ecs
        .call(
            "RegisterTaskDefinition",
            json!({
                "family": "web",
                "containerDefinitions": [{"name": "web", "image": "a:1", "memory": 64}],
            }),
        )
        .await?;
    ecs.model.validate_output("RegisterTaskDefinition", &out)?;
    let td = out["taskDefinition"].as_object_mut().unwrap();
    let arn = td.remove("taskDefinitionArn").unwrap();
    td.insert("taskDefinitionARN".into(), arn);
    td.insert("status".into(), json!("active"));
    td.insert("registeredAt".into(), json!("2024-01-01T00:00:00Z"));
    let violations = ecs.model.check_output("RegisterTaskDefinition", &out)?;
    let paths: Vec<&str> = violations.iter().map(|v| v.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "$.taskDefinition.registeredAt",
            "$.taskDefinition.status",
            "$.taskDefinition.taskDefinitionARN",
        ],
        "{violations:#?}"
    );
    assert!(
        violations[2]
            .problem
            .contains("did you mean \"taskDefinitionArn\"")
    );
    assert_eq!(violations[2].shape, "TaskDefinition");
    // The misspelled request is refused before it is sent.
    let err = ecs
        .call("ListTasks", json!({"clusterName": "default"}))
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("$.clusterName"), "{err:#}");
    Ok(())
}

#[test]
fn the_clis_requests_and_the_raw_answers_fit_botocores_model() -> Result<()> {
    let model = ecs_model()?;
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    let fixture = format!("file://{}", ecs_e2e_tests::every_field_fixture().display());
    let commands: &[&[&str]] = &[
        &[
            "ecs",
            "create-cluster",
            "--cluster-name",
            "cli",
            "--tags",
            "key=team,value=web",
        ],
        &[
            "ecs",
            "describe-clusters",
            "--clusters",
            "cli",
            "--include",
            "TAGS",
            "SETTINGS",
        ],
        &["ecs", "list-clusters"],
        &[
            "ecs",
            "register-container-instance",
            "--cluster",
            "cli",
            "--total-resources",
            "name=CPU,type=INTEGER,integerValue=1024",
            "name=MEMORY,type=INTEGER,integerValue=2048",
            "--version-info",
            "agentVersion=1.105.1,agentHash=e2etest,dockerVersion=DockerVersion: 20.10.24",
        ],
        &["ecs", "list-container-instances", "--cluster", "cli"],
        &[
            "ecs",
            "register-task-definition",
            "--cli-input-json",
            &fixture,
        ],
        &[
            "ecs",
            "describe-task-definition",
            "--task-definition",
            "every-field",
            "--include",
            "TAGS",
        ],
        &["ecs", "list-task-definitions", "--page-size", "1"],
        &["ecs", "list-tasks", "--cluster", "cli"],
    ];
    let mut problems = Vec::new();
    let mut fixture_sent = None;
    for args in commands {
        for ex in cli_exchanges(&aws, args)? {
            if let Err(e) = model.validate_input(&ex.operation, &ex.request) {
                problems.push(format!("request of `aws {}`: {e:#}", args.join(" ")));
            }
            if let Err(e) = model.validate_output(&ex.operation, &ex.response) {
                problems.push(format!("answer to `aws {}`: {e:#}", args.join(" ")));
            }
            if ex.operation == "RegisterTaskDefinition" {
                fixture_sent = Some(ex.request);
            }
        }
    }
    ensure!(problems.is_empty(), "{}", problems.join("\n"));
    // The flow test posts the fixture as it is; the CLI sends exactly that too.
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(
        ecs_e2e_tests::every_field_fixture(),
    )?)?;
    assert_eq!(fixture_sent, Some(fixture));
    Ok(())
}
