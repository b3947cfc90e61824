//! Container instances and their attributes: Register/Deregister/Describe/List ContainerInstances,
//! UpdateContainerInstancesState, Put/Delete/ListAttributes, and the resources an instance has left.

use std::collections::BTreeSet;

use ecs_protocol::ecs_api::{self, RegisterContainerInstanceRequest};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ecs::common::{new_id, paginate, short_name, valid_name, with_next};
use crate::ecs::model::{
    Attribute, Cluster, ContainerInstance, INSTANCE_INTERNAL, Resource, Tag, Task, VersionInfo,
    api_view,
};
use crate::ecs::state::{InstanceLoad, Key, State};
use crate::front::{ApiError, ErrorCode};
use ecs_protocol::BackendStatus;

impl State {
    pub(crate) fn instance_arn(&self, cluster: &str, id: &str) -> String {
        self.account
            .arn(&format!("container-instance/{cluster}/{id}"))
    }

    /// Finds an instance by ARN or id within a cluster.
    pub(crate) fn find_instance(&self, cluster: &Cluster, reference: &str) -> Option<String> {
        if self.instances.contains_key(reference) {
            return Some(reference.to_string());
        }
        let arn = self.instance_arn(&cluster.cluster_name, short_name(reference));
        self.instances.contains_key(&arn).then_some(arn)
    }

    /// Resources reserved on an instance by its tasks that are not yet STOPPED.
    /// The tasks on an instance that are not STOPPED yet, through the index (not a scan of every
    /// task ever placed).
    /// The tasks not yet STOPPED on an instance.
    pub(crate) fn active_tasks<'a>(
        &'a self,
        instance_arn: &str,
    ) -> impl Iterator<Item = &'a Task> + 'a {
        self.active_by_instance
            .get(instance_arn)
            .into_iter()
            .flat_map(|l| l.tasks.iter())
            .filter_map(|arn| self.tasks.get(arn).map(|t| &**t))
    }

    /// What the tasks not yet STOPPED hold on an instance.
    pub(crate) fn load(&self, instance_arn: &str) -> Option<&InstanceLoad> {
        self.active_by_instance.get(instance_arn)
    }

    pub(crate) fn reserved(&self, instance_arn: &str) -> (i64, i64, BTreeSet<u16>, BTreeSet<u16>) {
        match self.load(instance_arn) {
            Some(l) => (
                l.cpu,
                l.memory,
                l.tcp.keys().copied().collect(),
                l.udp.keys().copied().collect(),
            ),
            None => (0, 0, BTreeSet::new(), BTreeSet::new()),
        }
    }

    pub(crate) fn remaining_resources(&self, i: &ContainerInstance) -> Vec<Resource> {
        let (cpu, mem, tcp, udp) = self.reserved(&i.container_instance_arn);
        i.registered_resources
            .iter()
            .map(|r| {
                let mut r = r.clone();
                match r.name.as_str() {
                    "CPU" => r.integer_value -= cpu,
                    "MEMORY" => r.integer_value -= mem,
                    "PORTS" | "PORTS_UDP" => {
                        let extra = if r.name == "PORTS" { &tcp } else { &udp };
                        let mut set: BTreeSet<String> = r
                            .string_set_value
                            .clone()
                            .unwrap_or_default()
                            .into_iter()
                            .collect();
                        set.extend(extra.iter().map(u16::to_string));
                        r.string_set_value = Some(set.into_iter().collect());
                    }
                    _ => {}
                }
                r
            })
            .collect()
    }

    pub(crate) fn instance_view(&self, i: &ContainerInstance) -> Value {
        let (mut running, mut pending) = (0, 0);
        for t in self.active_tasks(&i.container_instance_arn) {
            if t.last_status == BackendStatus::Running {
                running += 1;
            } else {
                pending += 1;
            }
        }
        let mut v = api_view(i, INSTANCE_INTERNAL);
        if let Value::Object(m) = &mut v {
            m.insert(
                "remainingResources".into(),
                json!(self.remaining_resources(i)),
            );
            m.insert("runningTasksCount".into(), json!(running));
            m.insert("pendingTasksCount".into(), json!(pending));
            m.insert(
                "agentConnected".into(),
                json!(
                    self.connections
                        .get(&i.container_instance_arn)
                        .copied()
                        .unwrap_or(0)
                        > 0
                ),
            );
            m.insert("attachments".into(), json!([]));
        }
        v
    }

    /// RegisterContainerInstance.
    pub fn register_instance(
        &mut self,
        req: RegisterContainerInstanceRequest,
        now: f64,
    ) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        let total_resources = req
            .total_resources
            .unwrap_or_default()
            .into_iter()
            .map(resource)
            .collect::<Result<Vec<_>, _>>()?;
        let tags = req
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(tag)
            .collect::<Result<Vec<_>, _>>()?;
        for r in &total_resources {
            if !matches!(r.kind.as_str(), "INTEGER" | "LONG" | "DOUBLE" | "STRINGSET") {
                return Err(ApiError::invalid(format!(
                    "Invalid resource type {} for resource {}.",
                    r.kind, r.name
                )));
            }
        }
        let client_token = req.client_token.filter(|t| !t.is_empty());
        // A registration naming its instance re-registers it; one repeating the token of an
        // earlier one (a retry after a lost answer) gets that instance back, as ECS does.
        let existing = req
            .container_instance_arn
            .as_deref()
            .and_then(|a| self.find_instance(&cluster, a))
            .or_else(|| {
                let token = client_token.as_deref()?;
                self.instances
                    .values()
                    .find(|i| {
                        i.cluster_name == cluster.cluster_name
                            && i.status != "INACTIVE"
                            && i.client_token.as_deref() == Some(token)
                    })
                    .map(|i| i.container_instance_arn.clone())
            });
        let identity = req
            .instance_identity_document
            .as_deref()
            .and_then(|d| serde_json::from_str::<Value>(d).ok());
        let from_identity = |member: &str| {
            identity
                .as_ref()
                .and_then(|d| d.get(member))
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .map(String::from)
        };
        let ec2_id = from_identity("instanceId");
        let mut attributes: Vec<Attribute> = Vec::new();
        for a in req.attributes.unwrap_or_default() {
            if !attributes.iter().any(|x| x.name == a.name) {
                attributes.push(Attribute {
                    name: a.name,
                    value: a.value,
                    target_type: None,
                    target_id: None,
                });
            }
        }
        // ECS takes these from the instance identity document; an instance without one (ECS
        // Anywhere, or an agent on this machine) is put in the region's first zone.
        let derived = [
            (
                "ecs.availability-zone",
                from_identity("availabilityZone").or_else(|| {
                    (!attributes.iter().any(|a| a.name == "ecs.availability-zone"))
                        .then(|| format!("{}a", self.account.region))
                }),
            ),
            ("ecs.instance-type", from_identity("instanceType")),
            ("ecs.ami-id", from_identity("imageId")),
        ];
        for (name, value) in derived {
            if let Some(value) = value {
                attributes.retain(|a| a.name != name);
                attributes.push(Attribute {
                    name: name.into(),
                    value: Some(value),
                    target_type: None,
                    target_id: None,
                });
            }
        }
        let instance = match existing {
            Some(arn) => {
                let Some(old) = self.instances.get(&arn) else {
                    return Err(ApiError::server("instance vanished"));
                };
                let mut i = old.clone();
                if i.cluster_name != cluster.cluster_name {
                    return Err(ApiError::invalid(
                        "The container instance belongs to another cluster.",
                    ));
                }
                // Custom attributes persist; ECS replaces the rest with what the agent sends now.
                for old_attr in old.attributes.iter() {
                    if !attributes.iter().any(|a| a.name == old_attr.name)
                        && !old_attr.name.starts_with("ecs.capability.")
                        && !old_attr.name.starts_with("com.amazonaws.ecs.capability.")
                    {
                        attributes.push(old_attr.clone());
                    }
                }
                i.registered_resources = total_resources;
                i.attributes = attributes;
                if !tags.is_empty() {
                    i.tags = tags;
                }
                if i.status == "INACTIVE" {
                    i.status = "ACTIVE".into();
                }
                i.version += 1;
                i
            }
            None => {
                // An agent re-registering with an ARN this emulator no longer knows (its state was
                // wiped) keeps its identity, as long as the ARN is one of this account and cluster.
                let prefix = self.instance_arn(&cluster.cluster_name, "");
                let id = req
                    .container_instance_arn
                    .as_deref()
                    .and_then(|a| a.strip_prefix(&prefix))
                    .filter(|id| valid_name(id))
                    .map_or_else(new_id, String::from);
                ContainerInstance {
                    container_instance_arn: self.instance_arn(&cluster.cluster_name, &id),
                    cluster_name: cluster.cluster_name.clone(),
                    ec2_instance_id: ec2_id
                        .unwrap_or_else(|| format!("mi-{}", id.get(..17).unwrap_or(&id))),
                    version: 1,
                    status: "ACTIVE".into(),
                    registered_resources: total_resources,
                    attributes,
                    tags,
                    registered_at: now,
                    version_info: req.version_info.map(version_info).unwrap_or_default(),
                    client_token,
                }
            }
        };
        let arn = instance.container_instance_arn.clone();
        self.instances.insert(arn.clone(), instance);
        self.touch(Key::Instance(arn.clone()));
        let view = self.instances.get(&arn).map(|i| self.instance_view(i));
        Ok(json!({ "containerInstance": view }))
    }

    /// DeregisterContainerInstance.
    pub fn deregister_instance(
        &mut self,
        req: DeregisterContainerInstanceRequest,
    ) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        let arn = self
            .find_instance(&cluster, &req.container_instance)
            .ok_or_else(|| ApiError::invalid("Container instance not found."))?;
        let busy = self
            .tasks
            .values()
            .any(|t| t.container_instance_arn == arn && t.last_status != BackendStatus::Stopped);
        if busy && !req.force.unwrap_or(false) {
            return Err(ApiError::invalid("Found running tasks on the instance."));
        }
        let Some(i) = self.instances.get_mut(&arn) else {
            return Err(ApiError::invalid("Container instance not found."));
        };
        i.status = "INACTIVE".into();
        i.version += 1;
        self.touch(Key::Instance(arn.clone()));
        let view = self.instances.get(&arn).map(|i| self.instance_view(i));
        Ok(json!({ "containerInstance": view }))
    }

    /// The EC2 instance `ec2_instance_id` was stopped or terminated (`verb`), as EC2 tells ECS:
    /// the tasks still on its container instances are STOPPED with `TerminationNotice` (or
    /// `SpotInterruption` when a spot interruption did it) and "Host EC2 (instance ID) stopped."
    /// or "... terminated." (services then replace theirs), and a terminated instance's
    /// container instances are deregistered (INACTIVE). Nothing changes for an instance already
    /// dealt with. Returns how many tasks it stopped.
    pub fn host_gone(
        &mut self,
        ec2_instance_id: &str,
        verb: HostGone,
        spot: bool,
        now: f64,
    ) -> usize {
        let code = if spot {
            ecs_protocol::StopCode::SpotInterruption
        } else {
            ecs_protocol::StopCode::TerminationNotice
        };
        let arns: Vec<String> = self
            .instances
            .values()
            .filter(|i| i.ec2_instance_id == ec2_instance_id && i.status != "INACTIVE")
            .map(|i| i.container_instance_arn.clone())
            .collect();
        let reason = format!("Host EC2 (instance {ec2_instance_id}) {}.", verb.as_str());
        let mut stopped = 0;
        for arn in arns {
            let tasks: Vec<String> = self
                .active_tasks(&arn)
                .map(|t| t.task_arn.clone())
                .collect();
            for task_arn in tasks {
                let Some(t) = self.tasks.get_mut(&task_arn).map(std::sync::Arc::make_mut) else {
                    continue;
                };
                if t.desired_status != BackendStatus::Stopped {
                    t.desired_status = BackendStatus::Stopped;
                    t.stopping_at = Some(now);
                    t.stop_code = Some(code);
                    t.stopped_reason = Some(reason.clone());
                }
                t.last_status = BackendStatus::Stopped;
                t.stopped_at = Some(now);
                t.execution_stopped_at.get_or_insert(now);
                for c in &mut t.containers {
                    c.last_status = ecs_protocol::ReportedStatus::Stopped;
                }
                t.version += 1;
                let t = t.clone();
                if let Some(load) = self.active_by_instance.get_mut(&arn) {
                    load.remove(&t);
                }
                self.touch(Key::Task(task_arn));
                stopped += 1;
            }
            if verb == HostGone::Terminated
                && let Some(i) = self.instances.get_mut(&arn)
            {
                i.status = "INACTIVE".into();
                i.version += 1;
                self.touch(Key::Instance(arn));
            }
        }
        stopped
    }

    /// DescribeContainerInstances.
    pub fn describe_instances(
        &mut self,
        req: DescribeContainerInstancesRequest,
    ) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        if req.container_instances.is_empty() {
            return Err(ApiError::invalid("Container instances cannot be empty."));
        }
        let mut out = Vec::new();
        let mut failures = Vec::new();
        for r in &req.container_instances {
            match self
                .find_instance(&cluster, r)
                .and_then(|a| self.instances.get(&a))
            {
                Some(i) => {
                    let mut v = self.instance_view(i);
                    if !req.include.iter().any(|x| x == "TAGS")
                        && let Value::Object(m) = &mut v
                    {
                        m.remove("tags");
                    }
                    out.push(v);
                }
                None => failures.push(json!({
                    "arn": if r.starts_with("arn:") { r.clone() } else { self.instance_arn(&cluster.cluster_name, r) },
                    "reason": "MISSING"
                })),
            }
        }
        Ok(json!({ "containerInstances": out, "failures": failures }))
    }

    /// ListContainerInstances.
    pub fn list_instances(
        &mut self,
        req: ListContainerInstancesRequest,
    ) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        if let Some(s) = &req.status
            && !matches!(
                s.as_str(),
                "ACTIVE" | "DRAINING" | "REGISTERING" | "DEREGISTERING" | "REGISTRATION_FAILED"
            )
        {
            return Err(ApiError::invalid(format!("Invalid status: {s}")));
        }
        let arns: Vec<String> = self
            .instances
            .values()
            .filter(|i| i.cluster_name == cluster.cluster_name)
            .filter(|i| match &req.status {
                Some(s) => &i.status == s,
                None => i.status != "INACTIVE",
            })
            .map(|i| i.container_instance_arn.clone())
            .collect();
        let (page, next) = paginate(&arns, req.next_token.as_deref(), req.max_results)?;
        Ok(with_next(json!({ "containerInstanceArns": page }), next))
    }

    /// UpdateContainerInstancesState.
    pub fn update_instances_state(
        &mut self,
        req: UpdateContainerInstancesStateRequest,
    ) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        if !matches!(req.status.as_str(), "ACTIVE" | "DRAINING") {
            return Err(ApiError::invalid(
                "Container instance status must be ACTIVE or DRAINING.",
            ));
        }
        let mut out = Vec::new();
        let mut failures = Vec::new();
        for r in &req.container_instances {
            match self.find_instance(&cluster, r) {
                Some(arn) => {
                    if let Some(i) = self.instances.get_mut(&arn) {
                        i.status.clone_from(&req.status);
                        i.version += 1;
                    }
                    self.touch(Key::Instance(arn.clone()));
                    if let Some(i) = self.instances.get(&arn) {
                        out.push(self.instance_view(i));
                    }
                }
                None => failures.push(json!({"arn": r, "reason": "MISSING"})),
            }
        }
        Ok(json!({ "containerInstances": out, "failures": failures }))
    }

    /// The instance ARN an attribute's `targetId` names.
    pub(crate) fn attribute_target(
        &self,
        cluster: &Cluster,
        a: &Attribute,
    ) -> Result<String, ApiError> {
        let target = a
            .target_id
            .as_deref()
            .ok_or_else(|| ApiError::invalid("targetId is required."))?;
        self.find_instance(cluster, target).ok_or_else(|| {
            ApiError::new(
                ErrorCode::TargetNotFoundException,
                format!("Could not find {target}."),
            )
        })
    }

    /// PutAttributes.
    pub fn put_attributes(&mut self, req: AttributesRequest) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        let mut out = Vec::new();
        for a in req.attributes {
            let arn = self.attribute_target(&cluster, &a)?;
            if let Some(i) = self.instances.get_mut(&arn) {
                i.attributes.retain(|x| x.name != a.name);
                if i.attributes.len() >= 10 + 100 {
                    return Err(ApiError::new(
                        ErrorCode::AttributeLimitExceededException,
                        "Attribute limit exceeded.",
                    ));
                }
                i.attributes.push(Attribute {
                    name: a.name.clone(),
                    value: a.value.clone(),
                    target_type: None,
                    target_id: None,
                });
                i.version += 1;
            }
            self.touch(Key::Instance(arn.clone()));
            out.push(Attribute {
                target_type: Some("container-instance".into()),
                target_id: Some(arn),
                ..a
            });
        }
        Ok(json!({ "attributes": out }))
    }

    /// DeleteAttributes.
    pub fn delete_attributes(&mut self, req: AttributesRequest) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        let mut out = Vec::new();
        for a in req.attributes {
            let arn = self.attribute_target(&cluster, &a)?;
            if let Some(i) = self.instances.get_mut(&arn) {
                i.attributes.retain(|x| x.name != a.name);
                i.version += 1;
            }
            self.touch(Key::Instance(arn.clone()));
            out.push(Attribute {
                target_type: Some("container-instance".into()),
                target_id: Some(arn),
                ..a
            });
        }
        Ok(json!({ "attributes": out }))
    }

    /// ListAttributes.
    pub fn list_attributes(&mut self, req: ListAttributesRequest) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        if req.target_type != "container-instance" {
            return Err(ApiError::invalid("targetType must be container-instance."));
        }
        let mut all = Vec::new();
        for i in self
            .instances
            .values()
            .filter(|i| i.cluster_name == cluster.cluster_name && i.status != "INACTIVE")
        {
            for a in &i.attributes {
                if req.attribute_name.as_ref().is_some_and(|n| n != &a.name) {
                    continue;
                }
                if req.attribute_value.is_some() && req.attribute_value != a.value {
                    continue;
                }
                all.push(Attribute {
                    name: a.name.clone(),
                    value: a.value.clone(),
                    target_type: Some("container-instance".into()),
                    target_id: Some(i.container_instance_arn.clone()),
                });
            }
        }
        let (page, next) = paginate(&all, req.next_token.as_deref(), req.max_results)?;
        Ok(with_next(json!({ "attributes": page }), next))
    }
}

// ---- RegisterContainerInstance (decoded as ecs_protocol::ecs_api's request) -> the model ----

/// A member the model needs but the wire shape leaves optional is missing: refused as the request
/// decoder refused it when the model's type was decoded directly.
fn missing(member: &str, shape: &str) -> ApiError {
    ApiError::new(
        ErrorCode::SerializationException,
        format!("Cannot deserialize the request: missing field `{member}` in a {shape}"),
    )
}

/// A registered resource: `name` and `type` are required, absent numbers are 0.
fn resource(r: ecs_api::Resource) -> Result<Resource, ApiError> {
    Ok(Resource {
        name: r.name.ok_or_else(|| missing("name", "Resource"))?,
        kind: r
            .kind
            .ok_or_else(|| missing("type", "Resource"))?
            .as_str()
            .to_string(),
        double_value: r.double_value.unwrap_or_default(),
        long_value: r.long_value.unwrap_or_default(),
        integer_value: r.integer_value.unwrap_or_default(),
        string_set_value: r.string_set_value,
    })
}

/// A tag: `key` is required, an absent value is empty.
fn tag(t: ecs_api::Tag) -> Result<Tag, ApiError> {
    Ok(Tag {
        key: t.key.ok_or_else(|| missing("key", "Tag"))?,
        value: t.value.unwrap_or_default(),
    })
}

fn version_info(v: ecs_api::VersionInfo) -> VersionInfo {
    VersionInfo {
        agent_version: v.agent_version,
        agent_hash: v.agent_hash,
        docker_version: v.docker_version,
    }
}

// ---- request shapes (members as botocore's ECS model names them) ----

/// DeregisterContainerInstance input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeregisterContainerInstanceRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Instance.
    pub container_instance: String,
    /// Force.
    pub force: Option<bool>,
}

/// DescribeContainerInstances input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeContainerInstancesRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Instances.
    #[serde(default)]
    pub container_instances: Vec<String>,
    /// `TAGS`, `CONTAINER_INSTANCE_HEALTH`.
    #[serde(default)]
    pub include: Vec<String>,
}

/// ListContainerInstances input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListContainerInstancesRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Status filter.
    pub status: Option<String>,
    /// Page token.
    pub next_token: Option<String>,
    /// Page size.
    pub max_results: Option<i64>,
}

/// UpdateContainerInstancesState input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateContainerInstancesStateRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Instances.
    #[serde(default)]
    pub container_instances: Vec<String>,
    /// ACTIVE or DRAINING.
    pub status: String,
}

/// PutAttributes / DeleteAttributes input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributesRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Attributes.
    pub attributes: Vec<Attribute>,
}

/// ListAttributes input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListAttributesRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Must be `container-instance`.
    pub target_type: String,
    /// Name filter.
    pub attribute_name: Option<String>,
    /// Value filter.
    pub attribute_value: Option<String>,
    /// Page token.
    pub next_token: Option<String>,
    /// Page size.
    pub max_results: Option<i64>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::{Value, json};

    use crate::ecs::state::State;
    use crate::front::ErrorCode;
    use crate::front::json::decode;

    fn register(s: &mut State, body: &Value) -> Result<Value, crate::front::ApiError> {
        let req = decode(body.to_string().as_bytes())?;
        s.register_instance(req, 1.0)
    }

    #[test]
    fn what_the_aws_cli_may_send_registers() {
        let mut s = State::for_tests();
        let v = register(
            &mut s,
            &json!({
                "cluster": "default",
                "instanceIdentityDocument": "{\"instanceId\": \"i-0123456789abcdef0\"}",
                "instanceIdentityDocumentSignature": "sig",
                "totalResources": [
                    {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                    {"name": "MEMORY", "type": "LONG", "longValue": 2048},
                    {"name": "GPU_SHARE", "type": "DOUBLE", "doubleValue": 0.5},
                    {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22"]}
                ],
                "versionInfo": {"agentVersion": "1.105.1", "dockerVersion": "27.0.1"},
                "attributes": [{"name": "ecs.os-type", "value": "linux", "targetType": "container-instance"}],
                "platformDevices": [{"id": "GPU-1", "type": "GPU"}],
                "tags": [{"key": "team", "value": "web"}, {"key": "bare"}],
                "clientToken": "token"
            }),
        )
        .unwrap();
        let i = &v["containerInstance"];
        assert_eq!(i["ec2InstanceId"], "i-0123456789abcdef0");
        assert_eq!(
            i["registeredResources"],
            json!([
                {"name": "CPU", "type": "INTEGER", "integerValue": 1024, "longValue": 0, "doubleValue": 0.0},
                {"name": "MEMORY", "type": "LONG", "integerValue": 0, "longValue": 2048, "doubleValue": 0.0},
                {"name": "GPU_SHARE", "type": "DOUBLE", "integerValue": 0, "longValue": 0, "doubleValue": 0.5},
                {"name": "PORTS", "type": "STRINGSET", "integerValue": 0, "longValue": 0, "doubleValue": 0.0,
                 "stringSetValue": ["22"]}
            ])
        );
        assert_eq!(
            i["tags"],
            json!([{"key": "team", "value": "web"}, {"key": "bare", "value": ""}])
        );
        assert_eq!(i["versionInfo"]["agentVersion"], "1.105.1");
        let attributes = i["attributes"].as_array().unwrap();
        let os = attributes
            .iter()
            .find(|a| a["name"] == "ecs.os-type")
            .unwrap();
        assert_eq!(os, &json!({"name": "ecs.os-type", "value": "linux"}));
    }

    #[test]
    fn zone_type_and_ami_come_from_the_identity_document() {
        let mut s = State::for_tests();
        let doc = json!({"instanceId": "i-0aaaaaaaaaaaaaaaa", "availabilityZone": "us-east-1c",
            "instanceType": "t3.small", "imageId": "ami-0123456789abcdef0"});
        let v = register(
            &mut s,
            &json!({"cluster": "default", "instanceIdentityDocument": doc.to_string(),
                "attributes": [{"name": "ecs.availability-zone", "value": "us-east-1a"}]}),
        )
        .unwrap();
        let attr = |v: &Value, name: &str| {
            v["containerInstance"]["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["name"] == name)
                .map(|a| a["value"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(attr(&v, "ecs.availability-zone"), ["us-east-1c"]);
        assert_eq!(attr(&v, "ecs.instance-type"), ["t3.small"]);
        assert_eq!(attr(&v, "ecs.ami-id"), ["ami-0123456789abcdef0"]);
        // Without a document: what the agent sent, else the region's first zone.
        let bare = register(&mut s, &json!({"cluster": "default"})).unwrap();
        assert_eq!(attr(&bare, "ecs.availability-zone"), ["us-east-1a"]);
        assert!(attr(&bare, "ecs.instance-type").is_empty());
    }

    #[test]
    fn a_repeated_client_token_gets_the_same_instance_and_a_new_one_a_new_instance() {
        let mut s = State::for_tests();
        let arn = |v: &Value| {
            v["containerInstance"]["containerInstanceArn"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let body = |token: &str| {
            json!({"cluster": "default", "clientToken": token,
                   "attributes": [{"name": "ecs.os-type", "value": "linux"}]})
        };
        let first = arn(&register(&mut s, &body("3f1c-token-a")).unwrap());
        // The answer was lost; the agent retries with the same token.
        let again = register(&mut s, &body("3f1c-token-a")).unwrap();
        assert_eq!(arn(&again), first);
        assert_eq!(s.instances.len(), 1);
        assert!(again["containerInstance"].get("clientToken").is_none());
        // Another registration (another token, or none) is another instance.
        let other = arn(&register(&mut s, &body("3f1c-token-b")).unwrap());
        assert_ne!(other, first);
        let untokened = arn(&register(&mut s, &json!({"cluster": "default"})).unwrap());
        assert_ne!(untokened, first);
        assert_eq!(s.instances.len(), 3);
        // The token survives a restart of the emulator (it is in the persisted row).
        let row = serde_json::to_value(&s.instances[&first]).unwrap();
        assert_eq!(row["clientToken"], "3f1c-token-a");
        // A deregistered instance is not given back: the token starts a new one.
        s.deregister_instance(
            serde_json::from_value(json!({"cluster": "default", "containerInstance": first}))
                .unwrap(),
        )
        .unwrap();
        let after = arn(&register(&mut s, &body("3f1c-token-a")).unwrap());
        assert_ne!(after, first);
    }

    #[test]
    fn a_resource_without_a_name_or_type_and_a_tag_without_a_key_are_refused() {
        for body in [
            json!({"totalResources": [{"type": "INTEGER", "integerValue": 1}]}),
            json!({"totalResources": [{"name": "CPU", "integerValue": 1}]}),
            json!({"tags": [{"value": "x"}]}),
        ] {
            let e = register(&mut State::for_tests(), &body).unwrap_err();
            assert_eq!(e.code, ErrorCode::SerializationException, "{body}");
        }
        let e = register(
            &mut State::for_tests(),
            &json!({"totalResources": [{"name": "CPU", "type": "FLOAT"}]}),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParameterException);
    }
}

/// What happened to a container instance's EC2 instance ([`State::host_gone`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostGone {
    /// Stopped (it may start again, with the same container instance).
    Stopped,
    /// Terminated.
    Terminated,
}

impl HostGone {
    /// The word ECS uses in the stopped reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stopped => "stopped",
            Self::Terminated => "terminated",
        }
    }
}
