//! The ECS operations: pure, synchronous rules over [`State`], one function per operation.
//!
//! Each takes the decoded request and the current time and returns the response JSON or an
//! [`ApiError`] in ECS's words. They mark what they change with [`State::touch`]; the actor persists
//! it. They do no I/O.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::acs_convert;
use crate::error::{ApiError, ErrorCode};
use crate::model::{
    Attribute, Cluster, ContainerInstance, INSTANCE_INTERNAL, OutboundMessage, Resource,
    TASK_INTERNAL, Tag, Task, TaskContainer, VersionInfo, api_view,
};
use crate::placement_attrs::{self, InstanceFacts};
use crate::placement_strategy::{self, Candidate, Strategy};
use crate::state::{Key, State};

/// Fresh 32-hex id (task ids, instance ids).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

const MAX_RESULTS: usize = 100;

/// Pages `items` by an opaque `nextToken` (the offset) and `maxResults`.
pub(crate) fn paginate<T: Clone>(
    items: &[T],
    next_token: Option<&str>,
    max_results: Option<i64>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let start = match next_token {
        None | Some("") => 0,
        Some(t) => t
            .strip_prefix("ecs-emu-")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| ApiError::invalid("Invalid nextToken."))?,
    };
    let max = match max_results {
        None => MAX_RESULTS,
        Some(n) if (1..=100).contains(&n) => usize::try_from(n).unwrap_or(MAX_RESULTS),
        Some(_) => {
            return Err(ApiError::invalid("maxResults must be between 1 and 100."));
        }
    };
    let end = (start + max).min(items.len());
    let page = items.get(start..end).map(<[T]>::to_vec).unwrap_or_default();
    let next = (end < items.len()).then(|| format!("ecs-emu-{end}"));
    Ok((page, next))
}

pub(crate) fn with_next(mut v: Value, next: Option<String>) -> Value {
    if let (Some(n), Value::Object(m)) = (next, &mut v) {
        m.insert("nextToken".into(), Value::String(n));
    }
    v
}

/// Last path segment of an ARN or the name itself.
pub(crate) fn short_name(name_or_arn: &str) -> &str {
    name_or_arn.rsplit('/').next().unwrap_or(name_or_arn)
}

pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl State {
    /// Resolves a cluster reference (name, ARN, or absent for `default`). The `default` cluster is
    /// created on first use.
    pub fn cluster(&mut self, reference: Option<&str>) -> Result<Cluster, ApiError> {
        let name = match reference {
            None | Some("") => "default",
            Some(r) => {
                if r.starts_with("arn:") && !r.contains(":cluster/") {
                    return Err(ApiError::invalid(format!("Invalid cluster ARN: {r}")));
                }
                short_name(r)
            }
        };
        if let Some(c) = self.clusters.get(name).filter(|c| c.status == "ACTIVE") {
            return Ok(c.clone());
        }
        if name == "default" {
            return Ok(self.put_cluster("default", Vec::new(), Vec::new()));
        }
        Err(ApiError::cluster_not_found())
    }

    fn put_cluster(&mut self, name: &str, tags: Vec<Tag>, settings: Vec<Value>) -> Cluster {
        let settings = if settings.is_empty() {
            vec![json!({"name": "containerInsights", "value": "disabled"})]
        } else {
            settings
        };
        let c = Cluster {
            cluster_arn: self.account.arn(&format!("cluster/{name}")),
            cluster_name: name.to_string(),
            status: "ACTIVE".into(),
            tags,
            settings,
        };
        self.clusters.insert(name.to_string(), c.clone());
        self.touch(Key::Cluster(name.to_string()));
        c
    }

    fn cluster_view(&self, c: &Cluster) -> Value {
        let instances = self
            .instances
            .values()
            .filter(|i| i.cluster_name == c.cluster_name && i.status != "INACTIVE")
            .count();
        let tasks = self
            .tasks
            .values()
            .filter(|t| t.cluster_arn == c.cluster_arn && t.last_status != "STOPPED");
        let (mut running, mut pending) = (0, 0);
        for t in tasks {
            if t.last_status == "RUNNING" {
                running += 1;
            } else {
                pending += 1;
            }
        }
        let mut v = api_view(c, &[]);
        if let Value::Object(m) = &mut v {
            m.insert("registeredContainerInstancesCount".into(), json!(instances));
            m.insert("runningTasksCount".into(), json!(running));
            m.insert("pendingTasksCount".into(), json!(pending));
            let services = self
                .services
                .values()
                .filter(|s| s.cluster_arn == c.cluster_arn && s.status == "ACTIVE")
                .count();
            m.insert("activeServicesCount".into(), json!(services));
            m.insert("statistics".into(), json!([]));
            m.insert("capacityProviders".into(), json!([]));
            m.insert("defaultCapacityProviderStrategy".into(), json!([]));
        }
        v
    }

    /// CreateCluster.
    pub fn create_cluster(&mut self, req: CreateClusterRequest) -> Result<Value, ApiError> {
        let name = req.cluster_name.unwrap_or_else(|| "default".into());
        if !valid_name(&name) {
            return Err(ApiError::invalid(
                "Cluster name can only contain alphanumeric characters, hyphens, and underscores, and must be 1-255 characters long.",
            ));
        }
        let c = match self.clusters.get(&name).filter(|c| c.status == "ACTIVE") {
            Some(c) => c.clone(),
            None => self.put_cluster(&name, req.tags, req.settings),
        };
        Ok(json!({ "cluster": self.cluster_view(&c) }))
    }

    /// DeleteCluster.
    pub fn delete_cluster(&mut self, req: ClusterRef) -> Result<Value, ApiError> {
        let c = self.cluster(Some(&req.cluster))?;
        // Services first: they are what the walkthrough removes first.
        if self
            .services
            .values()
            .any(|s| s.cluster_arn == c.cluster_arn && s.status != "INACTIVE")
        {
            return Err(ApiError::new(
                ErrorCode::ClusterContainsServicesException,
                "The Cluster cannot be deleted while Services are active.",
            ));
        }
        if self
            .instances
            .values()
            .any(|i| i.cluster_name == c.cluster_name && i.status != "INACTIVE")
        {
            return Err(ApiError::new(
                ErrorCode::ClusterContainsContainerInstancesException,
                "The Cluster cannot be deleted while Container Instances are active or draining.",
            ));
        }
        if self
            .tasks
            .values()
            .any(|t| t.cluster_arn == c.cluster_arn && t.last_status != "STOPPED")
        {
            return Err(ApiError::new(
                ErrorCode::ClusterContainsTasksException,
                "The Cluster cannot be deleted while Tasks are active.",
            ));
        }
        let mut c = c;
        c.status = "INACTIVE".into();
        self.clusters.insert(c.cluster_name.clone(), c.clone());
        self.touch(Key::Cluster(c.cluster_name.clone()));
        Ok(json!({ "cluster": self.cluster_view(&c) }))
    }

    /// DescribeClusters.
    pub fn describe_clusters(&mut self, req: DescribeClustersRequest) -> Result<Value, ApiError> {
        let names = if req.clusters.is_empty() {
            vec!["default".to_string()]
        } else {
            req.clusters
        };
        let mut clusters = Vec::new();
        let mut failures = Vec::new();
        for r in names {
            match self.clusters.get(short_name(&r)) {
                Some(c) => clusters.push(self.cluster_view(c)),
                None => failures.push(json!({
                    "arn": if r.starts_with("arn:") { r.clone() } else { self.account.arn(&format!("cluster/{r}")) },
                    "reason": "MISSING"
                })),
            }
        }
        Ok(json!({ "clusters": clusters, "failures": failures }))
    }

    /// ListClusters.
    pub fn list_clusters(&mut self, req: ListRequest) -> Result<Value, ApiError> {
        let arns: Vec<String> = self
            .clusters
            .values()
            .filter(|c| c.status == "ACTIVE")
            .map(|c| c.cluster_arn.clone())
            .collect();
        let (page, next) = paginate(&arns, req.next_token.as_deref(), req.max_results)?;
        Ok(with_next(json!({ "clusterArns": page }), next))
    }

    // ---- container instances ----

    fn instance_arn(&self, cluster: &str, id: &str) -> String {
        self.account
            .arn(&format!("container-instance/{cluster}/{id}"))
    }

    /// Finds an instance by ARN or id within a cluster.
    fn find_instance(&self, cluster: &Cluster, reference: &str) -> Option<String> {
        if self.instances.contains_key(reference) {
            return Some(reference.to_string());
        }
        let arn = self.instance_arn(&cluster.cluster_name, short_name(reference));
        self.instances.contains_key(&arn).then_some(arn)
    }

    /// Resources reserved on an instance by its tasks that are not yet STOPPED.
    /// The tasks on an instance that are not STOPPED yet, through the index (not a scan of every
    /// task ever placed).
    fn active_tasks<'a>(&'a self, instance_arn: &str) -> impl Iterator<Item = &'a Task> + 'a {
        self.active_by_instance
            .get(instance_arn)
            .into_iter()
            .flatten()
            .filter_map(|arn| self.tasks.get(arn))
            .filter(|t| t.last_status != "STOPPED")
    }

    fn reserved(&self, instance_arn: &str) -> (i64, i64, BTreeSet<u16>, BTreeSet<u16>) {
        let (mut cpu, mut mem) = (0, 0);
        let (mut tcp, mut udp) = (BTreeSet::new(), BTreeSet::new());
        for t in self.active_tasks(instance_arn) {
            cpu += t.reserved_cpu;
            mem += t.reserved_memory;
            tcp.extend(t.reserved_ports.iter().copied());
            udp.extend(t.reserved_ports_udp.iter().copied());
        }
        (cpu, mem, tcp, udp)
    }

    fn remaining_resources(&self, i: &ContainerInstance) -> Vec<Resource> {
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

    fn instance_view(&self, i: &ContainerInstance) -> Value {
        let (mut running, mut pending) = (0, 0);
        for t in self.active_tasks(&i.container_instance_arn) {
            if t.last_status == "RUNNING" {
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
        for r in &req.total_resources {
            if !matches!(r.kind.as_str(), "INTEGER" | "LONG" | "DOUBLE" | "STRINGSET") {
                return Err(ApiError::invalid(format!(
                    "Invalid resource type {} for resource {}.",
                    r.kind, r.name
                )));
            }
        }
        let existing = req
            .container_instance_arn
            .as_deref()
            .and_then(|a| self.find_instance(&cluster, a));
        let ec2_id = req
            .instance_identity_document
            .as_deref()
            .and_then(|d| serde_json::from_str::<Value>(d).ok())
            .and_then(|d| {
                d.get("instanceId")
                    .and_then(Value::as_str)
                    .map(String::from)
            });
        let mut attributes: Vec<Attribute> = Vec::new();
        for a in req.attributes {
            if !attributes.iter().any(|x| x.name == a.name) {
                attributes.push(Attribute {
                    target_type: None,
                    target_id: None,
                    ..a
                });
            }
        }
        if !attributes.iter().any(|a| a.name == "ecs.availability-zone") {
            attributes.push(Attribute {
                name: "ecs.availability-zone".into(),
                value: Some(format!("{}a", self.account.region)),
                target_type: None,
                target_id: None,
            });
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
                i.registered_resources = req.total_resources;
                i.attributes = attributes;
                if !req.tags.is_empty() {
                    i.tags = req.tags;
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
                    registered_resources: req.total_resources,
                    attributes,
                    tags: req.tags,
                    registered_at: now,
                    version_info: req.version_info.unwrap_or_default(),
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
            .any(|t| t.container_instance_arn == arn && t.last_status != "STOPPED");
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
    fn attribute_target(&self, cluster: &Cluster, a: &Attribute) -> Result<String, ApiError> {
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

    // ---- task definitions ----

    /// RegisterTaskDefinition.
    pub fn register_task_definition(&mut self, req: Value, now: f64) -> Result<Value, ApiError> {
        let Value::Object(mut def) = req else {
            return Err(ApiError::new(
                ErrorCode::SerializationException,
                "The request body must be a JSON object.",
            ));
        };
        let family = def
            .get("family")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::client("Family is required."))?
            .to_string();
        if !valid_name(&family) {
            return Err(ApiError::client(
                "Family contains invalid characters. Up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed.",
            ));
        }
        let tags: Vec<Tag> = match def.remove("tags") {
            Some(t) => serde_json::from_value(t)
                .map_err(|e| ApiError::new(ErrorCode::SerializationException, e.to_string()))?,
            None => Vec::new(),
        };
        let task_memory = def_number(def.get("memory"));
        let network_mode = def
            .get("networkMode")
            .and_then(Value::as_str)
            .unwrap_or("bridge")
            .to_string();
        let mut names = BTreeSet::new();
        let containers = match def.get_mut("containerDefinitions") {
            Some(Value::Array(c)) if !c.is_empty() => c,
            _ => return Err(ApiError::client("Container list cannot be empty.")),
        };
        for c in containers.iter_mut() {
            let Value::Object(c) = c else {
                return Err(ApiError::new(
                    ErrorCode::SerializationException,
                    "containerDefinitions must hold objects.",
                ));
            };
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::client("Container.name should not be null or empty."))?
                .to_string();
            if !valid_name(&name) {
                return Err(ApiError::client(format!(
                    "Container name '{name}' is invalid. Up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed."
                )));
            }
            if !names.insert(name.clone()) {
                return Err(ApiError::client(format!(
                    "Duplicate container name '{name}'."
                )));
            }
            if c.get("image")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(ApiError::client(
                    "Container.image should not be null or empty.",
                ));
            }
            let mem = def_number(c.get("memory"));
            let res = def_number(c.get("memoryReservation"));
            if task_memory.is_none() && mem.is_none() && res.is_none() {
                return Err(ApiError::client(format!(
                    "Invalid setting for container '{name}'. At least one of 'memory' or 'memoryReservation' must be specified."
                )));
            }
            if let (Some(m), Some(r)) = (mem, res)
                && r > m
            {
                return Err(ApiError::client(format!(
                    "Invalid setting for container '{name}'. The memory value must be greater than the memoryReservation value."
                )));
            }
            if mem.is_some_and(|m| m < 6) {
                return Err(ApiError::client(format!(
                    "Invalid 'memory' setting for container '{name}'. The minimum memory that can be specified for a container is 6 MiB."
                )));
            }
            // ECS fills these defaults in the stored definition.
            c.entry("cpu").or_insert(json!(0));
            c.entry("essential").or_insert(json!(true));
            for k in ["portMappings", "environment", "mountPoints", "volumesFrom"] {
                c.entry(k).or_insert(json!([]));
            }
            if let Some(Value::Array(pms)) = c.get_mut("portMappings") {
                for pm in pms.iter_mut() {
                    if let Value::Object(pm) = pm {
                        pm.entry("protocol").or_insert(json!("tcp"));
                        if network_mode == "bridge"
                            && !pm.contains_key("hostPort")
                            && !pm.contains_key("containerPortRange")
                        {
                            pm.insert("hostPort".into(), json!(0));
                        }
                    }
                }
            }
        }
        if let Some(Value::Array(vols)) = def.get("volumes") {
            for v in vols {
                if v.get("name").and_then(Value::as_str).is_none() {
                    return Err(ApiError::client("Volume name should not be null or empty."));
                }
            }
        }
        crate::taskdef_check::check(&Value::Object(def.clone()))?;
        if acs_convert::has_secrets(&Value::Object(def.clone()))
            && def
                .get("executionRoleArn")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            // ECS's words (the same for `secretOptions`, as far as we know).
            return Err(ApiError::client(
                "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'.",
            ));
        }
        placement_attrs::parse_constraints(&Value::Object(def.clone()), &[])
            .map_err(|e| ApiError::client(e.to_string()))?;
        let revision = self
            .task_defs
            .get(&family)
            .and_then(|revs| revs.keys().next_back().copied())
            .unwrap_or(0)
            + 1;
        let arn = self
            .account
            .arn(&format!("task-definition/{family}:{revision}"));
        def.insert("taskDefinitionArn".into(), json!(arn));
        def.insert("revision".into(), json!(revision));
        def.insert("status".into(), json!("ACTIVE"));
        def.entry("volumes").or_insert(json!([]));
        def.entry("placementConstraints").or_insert(json!([]));
        def.insert("compatibilities".into(), json!(["EXTERNAL", "EC2"]));
        def.insert(
            "requiresAttributes".into(),
            json!(acs_convert::requires_attributes(&Value::Object(
                def.clone()
            ))),
        );
        def.insert("registeredAt".into(), json!(now));
        def.insert(
            "registeredBy".into(),
            json!(format!("arn:aws:iam::{}:root", self.account.account_id)),
        );
        let def = Value::Object(def);
        self.task_defs
            .entry(family.clone())
            .or_default()
            .insert(revision, def.clone());
        self.task_def_tags.insert(arn, tags.clone());
        self.touch(Key::TaskDef(family, revision));
        Ok(json!({ "taskDefinition": def, "tags": tags }))
    }

    /// Resolves `family`, `family:rev` or an ARN to (family, revision). A bare family means its
    /// latest ACTIVE revision.
    pub(crate) fn resolve_task_def(&self, reference: &str) -> Result<(String, u32), ApiError> {
        let r = reference
            .strip_prefix(&self.account.arn("task-definition/"))
            .or_else(|| reference.rsplit_once(":task-definition/").map(|(_, r)| r))
            .unwrap_or(reference);
        let not_found = || ApiError::client("Unable to describe task definition.");
        match r.split_once(':') {
            Some((family, rev)) => {
                let rev: u32 = rev.parse().map_err(|_| not_found())?;
                self.task_defs
                    .get(family)
                    .and_then(|revs| revs.get(&rev))
                    .ok_or_else(not_found)?;
                Ok((family.to_string(), rev))
            }
            None => {
                let revs = self.task_defs.get(r).ok_or_else(not_found)?;
                let rev = revs
                    .iter()
                    .rev()
                    .find(|(_, d)| d.get("status").and_then(Value::as_str) == Some("ACTIVE"))
                    .map(|(r, _)| *r)
                    .ok_or_else(not_found)?;
                Ok((r.to_string(), rev))
            }
        }
    }

    fn task_def(&self, family: &str, rev: u32) -> Option<&Value> {
        self.task_defs.get(family).and_then(|r| r.get(&rev))
    }

    /// DescribeTaskDefinition.
    pub fn describe_task_definition(
        &mut self,
        req: DescribeTaskDefinitionRequest,
    ) -> Result<Value, ApiError> {
        let (family, rev) = self.resolve_task_def(&req.task_definition)?;
        let def = self
            .task_def(&family, rev)
            .cloned()
            .ok_or_else(|| ApiError::client("Unable to describe task definition."))?;
        let mut out = json!({ "taskDefinition": def });
        if req.include.iter().any(|i| i == "TAGS") {
            let arn = def
                .get("taskDefinitionArn")
                .and_then(Value::as_str)
                .unwrap_or_default();
            out["tags"] = json!(self.task_def_tags.get(arn).cloned().unwrap_or_default());
        }
        Ok(out)
    }

    /// DeregisterTaskDefinition.
    pub fn deregister_task_definition(
        &mut self,
        req: DescribeTaskDefinitionRequest,
        now: f64,
    ) -> Result<Value, ApiError> {
        if !req.task_definition.contains(':') {
            return Err(ApiError::client(
                "Revision must be specified when deregistering a task definition.",
            ));
        }
        let (family, rev) = self.resolve_task_def(&req.task_definition)?;
        let def = self
            .task_defs
            .get_mut(&family)
            .and_then(|r| r.get_mut(&rev))
            .ok_or_else(|| ApiError::client("Unable to describe task definition."))?;
        def["status"] = json!("INACTIVE");
        def["deregisteredAt"] = json!(now);
        let out = json!({ "taskDefinition": def.clone() });
        self.touch(Key::TaskDef(family, rev));
        Ok(out)
    }

    /// ListTaskDefinitions.
    pub fn list_task_definitions(
        &mut self,
        req: ListTaskDefinitionsRequest,
    ) -> Result<Value, ApiError> {
        let status = req.status.as_deref().unwrap_or("ACTIVE");
        let mut arns: Vec<String> = Vec::new();
        for (family, revs) in &self.task_defs {
            if req
                .family_prefix
                .as_ref()
                .is_some_and(|p| !family.starts_with(p.as_str()))
            {
                continue;
            }
            for def in revs.values() {
                if def.get("status").and_then(Value::as_str) == Some(status)
                    && let Some(a) = def.get("taskDefinitionArn").and_then(Value::as_str)
                {
                    arns.push(a.to_string());
                }
            }
        }
        if req.sort.as_deref() == Some("DESC") {
            arns.reverse();
        }
        let (page, next) = paginate(&arns, req.next_token.as_deref(), req.max_results)?;
        Ok(with_next(json!({ "taskDefinitionArns": page }), next))
    }

    /// ListTaskDefinitionFamilies.
    pub fn list_task_definition_families(
        &mut self,
        req: ListTaskDefinitionFamiliesRequest,
    ) -> Result<Value, ApiError> {
        let status = req.status.as_deref().unwrap_or("ACTIVE");
        let families: Vec<String> = self
            .task_defs
            .iter()
            .filter(|(f, _)| {
                req.family_prefix
                    .as_ref()
                    .is_none_or(|p| f.starts_with(p.as_str()))
            })
            .filter(|(_, revs)| {
                let active = revs
                    .values()
                    .any(|d| d.get("status").and_then(Value::as_str) == Some("ACTIVE"));
                match status {
                    "ALL" => true,
                    "INACTIVE" => !active,
                    _ => active,
                }
            })
            .map(|(f, _)| f.clone())
            .collect();
        let (page, next) = paginate(&families, req.next_token.as_deref(), req.max_results)?;
        Ok(with_next(json!({ "families": page }), next))
    }

    // ---- tasks ----

    fn task_view(t: &Task) -> Value {
        api_view(t, TASK_INTERNAL)
    }

    /// Why `demand` does not fit on `instance`, if it does not.
    fn misfit(&self, instance: &ContainerInstance, demand: &Demand) -> Option<&'static str> {
        if self
            .connections
            .get(&instance.container_instance_arn)
            .copied()
            .unwrap_or(0)
            == 0
        {
            return Some("AGENT");
        }
        let remaining = self.remaining_resources(instance);
        let get = |n: &str| remaining.iter().find(|r| r.name == n);
        if get("CPU").is_some_and(|r| r.number() < demand.cpu) {
            return Some("RESOURCE:CPU");
        }
        if get("MEMORY").is_some_and(|r| r.number() < demand.memory) {
            return Some("RESOURCE:MEMORY");
        }
        let taken = |n: &str, ports: &[u16]| {
            get(n).is_some_and(|r| {
                let set = r.string_set_value.clone().unwrap_or_default();
                ports.iter().any(|p| set.contains(&p.to_string()))
            })
        };
        if taken("PORTS", &demand.ports) || taken("PORTS_UDP", &demand.ports_udp) {
            return Some("RESOURCE:PORTS");
        }
        None
    }

    /// What placement constraints look at on `i`.
    fn placement_facts<'a>(&'a self, i: &'a ContainerInstance) -> InstanceFacts<'a> {
        let arn = &i.container_instance_arn;
        InstanceFacts {
            attributes: &i.attributes,
            ec2_instance_id: &i.ec2_instance_id,
            agent_connected: self.connections.get(arn).copied().unwrap_or(0) > 0,
            agent_version: i.version_info.agent_version.as_deref(),
            registered_at: i.registered_at,
            running_tasks_count: self.active_tasks(arn).count(),
            task_groups: self.active_tasks(arn).map(|t| t.group.clone()).collect(),
        }
    }

    /// The instance of `fitting` that `strategies` rank first. Every instance of the cluster
    /// counts for `spread` by attribute, fitting or not.
    fn choose(
        &self,
        cluster: &Cluster,
        strategies: &[Strategy],
        fitting: &BTreeSet<&str>,
        group: &str,
    ) -> Option<String> {
        let number = |r: &[Resource], name: &str| {
            r.iter()
                .find(|r| r.name == name)
                .map_or(0, Resource::number)
        };
        let candidates: Vec<Candidate<'_>> = self
            .instances
            .values()
            .filter(|i| {
                fitting.contains(i.container_instance_arn.as_str())
                    || (i.cluster_name == cluster.cluster_name && i.status != "INACTIVE")
            })
            .map(|i| {
                let arn = i.container_instance_arn.as_str();
                let remaining = self.remaining_resources(i);
                Candidate {
                    arn,
                    remaining_cpu: number(&remaining, "CPU"),
                    remaining_memory: number(&remaining, "MEMORY"),
                    attributes: &i.attributes,
                    group_tasks: self.active_tasks(arn).filter(|t| t.group == group).count(),
                    fits: fitting.contains(arn),
                }
            })
            .collect();
        let mut draw = || rand::random::<u32>();
        let order = placement_strategy::rank(strategies, &candidates, &mut draw);
        order
            .first()
            .and_then(|&i| candidates.get(i))
            .map(|c| c.arn.to_string())
    }

    /// Places and creates one task per count; returns (tasks, failures).
    pub(crate) fn place_tasks(
        &mut self,
        cluster: &Cluster,
        spec: &TaskSpec,
        candidates: Option<Vec<String>>,
        now: f64,
    ) -> Result<(Vec<Value>, Vec<Value>), ApiError> {
        let def = self
            .task_def(&spec.family, spec.revision)
            .cloned()
            .ok_or_else(|| ApiError::client("Unable to describe task definition."))?;
        let demand = Demand::of(&def, &spec.overrides)?;
        let constraints = placement_attrs::parse_constraints(&def, &spec.placement_constraints)
            .map_err(|e| ApiError::invalid(e.to_string()))?;
        let group = spec
            .group
            .clone()
            .unwrap_or_else(|| format!("family:{}", spec.family));
        let explicit = candidates.is_some();
        let candidates: Vec<String> = match candidates {
            Some(c) => c,
            None => {
                let all: Vec<String> = self
                    .instances
                    .values()
                    .filter(|i| i.cluster_name == cluster.cluster_name && i.status != "INACTIVE")
                    .map(|i| i.container_instance_arn.clone())
                    .collect();
                if all.is_empty() {
                    return Err(ApiError::invalid(
                        "No Container Instances were found in your cluster.",
                    ));
                }
                all
            }
        };
        let mut tasks = Vec::new();
        let mut failures: BTreeMap<String, &'static str> = BTreeMap::new();
        for n in 0..spec.count {
            let targets: Vec<String> = if explicit {
                candidates
                    .get(n..=n)
                    .map(<[String]>::to_vec)
                    .unwrap_or_default()
            } else {
                candidates.clone()
            };
            let mut fitting: BTreeSet<&str> = BTreeSet::new();
            for arn in &targets {
                let Some(i) = self.instances.get(arn) else {
                    failures.insert(arn.clone(), "MISSING");
                    continue;
                };
                if i.status != "ACTIVE" {
                    failures.insert(arn.clone(), "INACTIVE");
                    continue;
                }
                let why = placement_attrs::refusal(
                    &def["requiresAttributes"],
                    &constraints,
                    &self.placement_facts(i),
                    &group,
                );
                if let Some(why) = why.or_else(|| self.misfit(i, &demand)) {
                    failures.insert(arn.clone(), why);
                    continue;
                }
                fitting.insert(arn.as_str());
            }
            if fitting.is_empty() {
                continue;
            }
            let instance_arn = self.choose(cluster, &spec.placement_strategy, &fitting, &group);
            let Some(instance_arn) = instance_arn else {
                continue;
            };
            failures.remove(&instance_arn);
            let task = self.new_task(cluster, spec, &def, &demand, &instance_arn, now);
            tasks.push(Self::task_view(&task));
            let arn = task.task_arn.clone();
            self.tasks.insert(arn.clone(), task);
            self.active_by_instance
                .entry(instance_arn.clone())
                .or_default()
                .insert(arn.clone());
            self.touch(Key::Task(arn.clone()));
            self.send_payload(&instance_arn, &[arn], now);
        }
        let failures = if tasks.len() == spec.count {
            Vec::new()
        } else {
            failures
                .into_iter()
                .map(|(arn, reason)| json!({ "arn": arn, "reason": reason }))
                .collect()
        };
        Ok((tasks, failures))
    }

    fn new_task(
        &self,
        cluster: &Cluster,
        spec: &TaskSpec,
        def: &Value,
        demand: &Demand,
        instance_arn: &str,
        now: f64,
    ) -> Task {
        let id = new_id();
        let task_arn = self
            .account
            .arn(&format!("task/{}/{id}", cluster.cluster_name));
        let containers = def
            .get("containerDefinitions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|c| {
                let s = |k: &str| {
                    c.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                let n = |k: &str| def_number(c.get(k)).map(|v| v.to_string());
                TaskContainer {
                    container_arn: self.account.arn(&format!(
                        "container/{}/{id}/{}",
                        cluster.cluster_name,
                        uuid::Uuid::new_v4()
                    )),
                    task_arn: task_arn.clone(),
                    name: s("name"),
                    image: s("image"),
                    image_digest: None,
                    runtime_id: None,
                    last_status: "PENDING".into(),
                    exit_code: None,
                    reason: None,
                    network_bindings: Vec::new(),
                    network_interfaces: Vec::new(),
                    health_status: Some("UNKNOWN".into()),
                    cpu: n("cpu"),
                    memory: n("memory"),
                    memory_reservation: n("memoryReservation"),
                }
            })
            .collect();
        let str_of = |k: &str| {
            spec.overrides
                .get(k)
                .and_then(Value::as_str)
                .or_else(|| def.get(k).and_then(Value::as_str))
                .map(String::from)
        };
        Task {
            task_arn,
            cluster_arn: cluster.cluster_arn.clone(),
            task_definition_arn: self.account.arn(&format!(
                "task-definition/{}:{}",
                spec.family, spec.revision
            )),
            container_instance_arn: instance_arn.to_string(),
            overrides: spec.overrides.clone(),
            last_status: "PENDING".into(),
            desired_status: "RUNNING".into(),
            cpu: str_of("cpu"),
            memory: str_of("memory"),
            containers,
            started_by: spec.started_by.clone(),
            version: 1,
            stopped_reason: None,
            stop_code: None,
            group: spec
                .group
                .clone()
                .unwrap_or_else(|| format!("family:{}", spec.family)),
            launch_type: spec.launch_type.clone(),
            tags: spec.tags.clone(),
            created_at: now,
            pull_started_at: None,
            pull_stopped_at: None,
            started_at: None,
            stopping_at: None,
            stopped_at: None,
            execution_stopped_at: None,
            health_status: "UNKNOWN".into(),
            reserved_cpu: demand.cpu,
            reserved_memory: demand.memory,
            reserved_ports: demand.ports.clone(),
            reserved_ports_udp: demand.ports_udp.clone(),
        }
    }

    /// Queues a PayloadMessage with the current form of `task_arns` for an instance.
    pub fn send_payload(&mut self, instance_arn: &str, task_arns: &[String], now: f64) {
        let Some(instance) = self.instances.get(instance_arn) else {
            return;
        };
        let cluster_arn = self
            .clusters
            .get(&instance.cluster_name)
            .map(|c| c.cluster_arn.clone())
            .unwrap_or_default();
        let defs: Vec<(Task, Value)> = task_arns
            .iter()
            .filter_map(|a| self.tasks.get(a))
            .map(|t| {
                let (family, rev) = t
                    .task_definition_arn
                    .rsplit_once('/')
                    .and_then(|(_, fr)| fr.rsplit_once(':'))
                    .unwrap_or(("", "0"));
                let def = self.task_def(family, rev.parse().unwrap_or(0));
                (t.clone(), def.cloned().unwrap_or(Value::Null))
            })
            .collect();
        let tasks: Vec<Value> = defs
            .iter()
            .map(|(t, def)| {
                let mut acs = acs_convert::acs_task(t, def);
                if let Some(ecr) = &self.ecr {
                    let execution_role = def.get("executionRoleArn").is_some();
                    crate::ecr::mark_registry_auth(&mut acs, ecr, execution_role);
                }
                crate::roles::attach(self, &mut acs, t, def, now);
                acs
            })
            .collect();
        let seq = self
            .meta
            .seq_nums
            .entry(instance_arn.to_string())
            .or_insert(0);
        *seq += 1;
        let seq = *seq;
        self.touch(Key::Meta);
        let message_id = uuid::Uuid::new_v4().to_string();
        let frame = json!({
            "type": "PayloadMessage",
            "message": {
                "messageId": message_id,
                "clusterArn": cluster_arn,
                "containerInstanceArn": instance_arn,
                "tasks": tasks,
                "generatedAt": now as i64,
                "seqNum": seq,
            }
        });
        self.enqueue(
            instance_arn,
            OutboundMessage {
                message_id,
                frame: frame.to_string(),
            },
        );
    }

    /// RunTask.
    pub fn run_task(&mut self, req: RunTaskRequest, now: f64) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        let count = req.count.unwrap_or(1);
        if !(1..=10).contains(&count) {
            return Err(ApiError::invalid("count must be between 1 and 10."));
        }
        let launch_type = req.launch_type.clone().unwrap_or_else(|| "EC2".into());
        if !matches!(launch_type.as_str(), "EC2" | "EXTERNAL") {
            return Err(ApiError::invalid(format!(
                "Launch type {launch_type} is not supported by this control plane; use EC2 or EXTERNAL."
            )));
        }
        let placement_strategy = placement_strategy::parse_strategies(&req.placement_strategy)
            .map_err(|e| ApiError::invalid(e.to_string()))?;
        let (family, revision) = self
            .resolve_task_def(&req.task_definition)
            .map_err(|_| ApiError::invalid("TaskDefinition not found."))?;
        let spec = TaskSpec {
            family,
            revision,
            count: usize::try_from(count).unwrap_or(1),
            overrides: req.overrides.unwrap_or_else(
                || json!({"containerOverrides": [], "inferenceAcceleratorOverrides": []}),
            ),
            started_by: req.started_by,
            group: req.group,
            launch_type,
            tags: req.tags,
            placement_constraints: req.placement_constraints,
            placement_strategy,
        };
        let (tasks, failures) = self.place_tasks(&cluster, &spec, None, now)?;
        Ok(json!({ "tasks": tasks, "failures": failures }))
    }

    /// StartTask.
    pub fn start_task(&mut self, req: StartTaskRequest, now: f64) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        if req.container_instances.is_empty() || req.container_instances.len() > 10 {
            return Err(ApiError::invalid(
                "containerInstances must hold between 1 and 10 instances.",
            ));
        }
        let (family, revision) = self
            .resolve_task_def(&req.task_definition)
            .map_err(|_| ApiError::invalid("TaskDefinition not found."))?;
        let arns: Vec<String> = req
            .container_instances
            .iter()
            .map(|r| self.find_instance(&cluster, r).unwrap_or_else(|| r.clone()))
            .collect();
        let spec = TaskSpec {
            family,
            revision,
            count: arns.len(),
            overrides: req.overrides.unwrap_or_else(
                || json!({"containerOverrides": [], "inferenceAcceleratorOverrides": []}),
            ),
            started_by: req.started_by,
            group: req.group,
            launch_type: "EC2".into(),
            tags: req.tags,
            placement_constraints: Vec::new(),
            placement_strategy: Vec::new(),
        };
        let (tasks, failures) = self.place_tasks(&cluster, &spec, Some(arns), now)?;
        Ok(json!({ "tasks": tasks, "failures": failures }))
    }

    fn find_task(&self, cluster: &Cluster, reference: &str) -> Option<String> {
        if self.tasks.contains_key(reference) {
            return Some(reference.to_string());
        }
        let arn = self.account.arn(&format!(
            "task/{}/{}",
            cluster.cluster_name,
            short_name(reference)
        ));
        self.tasks.contains_key(&arn).then_some(arn)
    }

    /// StopTask.
    pub fn stop_task(&mut self, req: StopTaskRequest, now: f64) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        let arn = self
            .find_task(&cluster, &req.task)
            .ok_or_else(|| ApiError::invalid("The referenced task was not found."))?;
        let reason = req
            .reason
            .clone()
            .unwrap_or_else(|| "Task stopped by user".into());
        self.request_stop(&arn, "UserInitiated", &reason, now);
        let view = self.tasks.get(&arn).map(Self::task_view);
        Ok(json!({ "task": view }))
    }

    /// Sets a task's desired status to STOPPED (once) and tells its agent.
    pub(crate) fn request_stop(&mut self, arn: &str, stop_code: &str, reason: &str, now: f64) {
        let Some(t) = self.tasks.get_mut(arn) else {
            return;
        };
        if t.desired_status == "STOPPED" {
            return;
        }
        t.desired_status = "STOPPED".into();
        t.stopping_at = Some(now);
        t.stop_code = Some(stop_code.into());
        t.stopped_reason = Some(reason.into());
        t.version += 1;
        let instance = t.container_instance_arn.clone();
        self.touch(Key::Task(arn.to_string()));
        self.send_payload(&instance, &[arn.to_string()], now);
    }

    /// DescribeTasks.
    pub fn describe_tasks(&mut self, req: DescribeTasksRequest) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        if req.tasks.is_empty() {
            return Err(ApiError::invalid("Tasks cannot be empty."));
        }
        if req.tasks.len() > 100 {
            return Err(ApiError::invalid(
                "Tasks cannot have more than 100 entries.",
            ));
        }
        let mut out = Vec::new();
        let mut failures = Vec::new();
        for r in &req.tasks {
            match self.find_task(&cluster, r).and_then(|a| self.tasks.get(&a)) {
                Some(t) => {
                    let mut v = Self::task_view(t);
                    if !req.include.iter().any(|i| i == "TAGS")
                        && let Value::Object(m) = &mut v
                    {
                        m.remove("tags");
                    }
                    out.push(v);
                }
                None => failures.push(json!({
                    "arn": if r.starts_with("arn:") { r.clone() } else { self.account.arn(&format!("task/{}/{r}", cluster.cluster_name)) },
                    "reason": "MISSING"
                })),
            }
        }
        Ok(json!({ "tasks": out, "failures": failures }))
    }

    /// ListTasks.
    pub fn list_tasks(&mut self, req: ListTasksRequest) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        let desired = req.desired_status.as_deref().unwrap_or("RUNNING");
        if !matches!(desired, "RUNNING" | "PENDING" | "STOPPED") {
            return Err(ApiError::invalid(format!(
                "Invalid desiredStatus: {desired}"
            )));
        }
        let instance = match &req.container_instance {
            Some(r) => Some(
                self.find_instance(&cluster, r)
                    .ok_or_else(|| ApiError::invalid("Container instance not found."))?,
            ),
            None => None,
        };
        // Tasks of a service are in its group, `service:<name>`.
        let service_group = match &req.service_name {
            Some(name) => {
                let arn = self.service_arn(&cluster, short_name(name));
                if !self.services.contains_key(&arn) {
                    return Err(ApiError::new(
                        ErrorCode::ServiceNotFoundException,
                        "Service not found.",
                    ));
                }
                Some(format!("service:{}", short_name(name)))
            }
            None => None,
        };
        let arns: Vec<String> = self
            .tasks
            .values()
            .filter(|t| t.cluster_arn == cluster.cluster_arn)
            .filter(|t| service_group.as_ref().is_none_or(|g| &t.group == g))
            .filter(|t| match desired {
                "PENDING" => t.desired_status == "RUNNING" && t.last_status == "PENDING",
                d => t.desired_status == d,
            })
            .filter(|t| {
                instance
                    .as_ref()
                    .is_none_or(|i| &t.container_instance_arn == i)
            })
            .filter(|t| {
                req.family.as_ref().is_none_or(|f| {
                    t.task_definition_arn
                        .contains(&format!("task-definition/{f}:"))
                })
            })
            .filter(|t| {
                req.started_by
                    .as_ref()
                    .is_none_or(|s| t.started_by.as_ref() == Some(s))
            })
            .filter(|t| req.launch_type.as_ref().is_none_or(|l| &t.launch_type == l))
            .map(|t| t.task_arn.clone())
            .collect();
        let (page, next) = paginate(&arns, req.next_token.as_deref(), req.max_results)?;
        Ok(with_next(json!({ "taskArns": page }), next))
    }

    // ---- agent-facing ----

    /// SubmitTaskStateChange.
    pub fn submit_task_state_change(
        &mut self,
        req: SubmitTaskStateChangeRequest,
        now: f64,
    ) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        let task_ref = req
            .task
            .as_deref()
            .ok_or_else(|| ApiError::invalid("task is required."))?;
        let Some(arn) = self.find_task(&cluster, task_ref) else {
            // The agent cannot act on a refusal; ECS acknowledges and drops reports it cannot use.
            tracing::warn!(task_arn = %task_ref, "state change for an unknown task ignored");
            return Ok(json!({ "acknowledgment": "ACK" }));
        };
        let Some(t) = self.tasks.get_mut(&arn) else {
            return Err(ApiError::invalid("The referenced task was not found."));
        };
        for c in &req.containers {
            apply_container_change(t, c);
        }
        if let Some(v) = req.pull_started_at {
            t.pull_started_at.get_or_insert(v);
        }
        if let Some(v) = req.pull_stopped_at {
            t.pull_stopped_at = Some(v);
        }
        if let Some(v) = req.execution_stopped_at {
            t.execution_stopped_at.get_or_insert(v);
        }
        if let Some(status) = req.status.as_deref() {
            apply_task_status(t, status, req.reason.as_deref(), now)?;
        }
        t.version += 1;
        if t.last_status == "STOPPED" {
            let instance = t.container_instance_arn.clone();
            if let Some(set) = self.active_by_instance.get_mut(&instance) {
                set.remove(&arn);
            }
        }
        self.touch(Key::Task(arn));
        Ok(json!({ "acknowledgment": "ACK" }))
    }

    /// SubmitContainerStateChange.
    pub fn submit_container_state_change(
        &mut self,
        req: SubmitContainerStateChangeRequest,
    ) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        let task_ref = req
            .task
            .as_deref()
            .ok_or_else(|| ApiError::invalid("task is required."))?;
        let arn = self
            .find_task(&cluster, task_ref)
            .ok_or_else(|| ApiError::invalid("The referenced task was not found."))?;
        let Some(t) = self.tasks.get_mut(&arn) else {
            return Err(ApiError::invalid("The referenced task was not found."));
        };
        apply_container_change(
            t,
            &ContainerStateChange {
                container_name: req.container_name,
                image_digest: None,
                runtime_id: req.runtime_id,
                status: req.status,
                exit_code: req.exit_code,
                reason: req.reason,
                network_bindings: req.network_bindings,
            },
        );
        t.version += 1;
        self.touch(Key::Task(arn));
        Ok(json!({ "acknowledgment": "ACK" }))
    }

    /// An agent connected on ACS.
    pub fn agent_connected(&mut self, instance_arn: &str, info: VersionInfo) {
        *self
            .connections
            .entry(instance_arn.to_string())
            .or_insert(0) += 1;
        if let Some(i) = self.instances.get_mut(instance_arn) {
            i.version_info = info;
            self.touch(Key::Instance(instance_arn.to_string()));
        }
    }

    /// An agent's ACS connection closed.
    pub fn agent_disconnected(&mut self, instance_arn: &str) {
        if let Some(n) = self.connections.get_mut(instance_arn) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.connections.remove(instance_arn);
            }
        }
    }

    /// The agent acknowledged `message_id`.
    pub fn ack(&mut self, instance_arn: &str, message_id: &str) {
        if let Some(out) = self.outbox.get_mut(instance_arn) {
            let before = out.len();
            out.retain(|m| m.message_id != message_id);
            if out.len() != before {
                self.touch(Key::Outbox(instance_arn.to_string()));
            }
        }
    }
}

fn apply_container_change(t: &mut Task, c: &ContainerStateChange) {
    let Some(name) = c.container_name.as_deref() else {
        return;
    };
    let Some(tc) = t.containers.iter_mut().find(|x| x.name == name) else {
        return;
    };
    if let Some(s) = &c.status {
        // Never move a container backwards (a late RUNNING after STOPPED is dropped).
        if tc.last_status != "STOPPED" {
            tc.last_status.clone_from(s);
        }
    }
    if c.runtime_id.is_some() {
        tc.runtime_id.clone_from(&c.runtime_id);
    }
    if c.image_digest.is_some() {
        tc.image_digest.clone_from(&c.image_digest);
    }
    if c.exit_code.is_some() {
        tc.exit_code = c.exit_code;
    }
    if c.reason.is_some() {
        tc.reason.clone_from(&c.reason);
    }
    if !c.network_bindings.is_empty() {
        tc.network_bindings.clone_from(&c.network_bindings);
    }
}

fn apply_task_status(
    t: &mut Task,
    status: &str,
    reason: Option<&str>,
    now: f64,
) -> Result<(), ApiError> {
    match status {
        "PENDING" => {}
        "RUNNING" => {
            if t.last_status != "STOPPED" {
                t.last_status = "RUNNING".into();
                t.started_at.get_or_insert(now);
            }
        }
        "STOPPED" => {
            if t.last_status != "STOPPED" {
                t.last_status = "STOPPED".into();
                t.stopped_at = Some(now);
                t.execution_stopped_at.get_or_insert(now);
                if t.desired_status != "STOPPED" {
                    t.desired_status = "STOPPED".into();
                    t.stopping_at.get_or_insert(now);
                    let reason = reason.unwrap_or("Task stopped by the agent");
                    t.stop_code = Some(
                        if reason.starts_with("Essential container") {
                            "EssentialContainerExited"
                        } else {
                            "TaskFailedToStart"
                        }
                        .into(),
                    );
                    t.stopped_reason = Some(reason.to_string());
                }
                for c in &mut t.containers {
                    c.last_status = "STOPPED".into();
                }
            }
        }
        other => {
            return Err(ApiError::invalid(format!(
                "Invalid status {other}: must be PENDING, RUNNING or STOPPED."
            )));
        }
    }
    Ok(())
}

/// An integer member that may come as a number or a numeric string (task-level cpu/memory are strings).
pub fn def_number(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => parse_task_size(s),
        _ => None,
    }
}

/// Task-level sizes: `"512"`, `"1024"`, `"0.5 vCPU"`/`"1 vcpu"` (×1024), `"1 GB"`/`"2gb"` (×1024 MiB).
pub fn parse_task_size(s: &str) -> Option<i64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = if let Some(n) = s.strip_suffix("vcpu") {
        (n.trim(), 1024.0)
    } else if let Some(n) = s.strip_suffix("gb") {
        (n.trim(), 1024.0)
    } else {
        (s.as_str(), 1.0)
    };
    let v: f64 = num.parse().ok()?;
    #[allow(clippy::cast_possible_truncation)]
    Some((v * mult).round() as i64)
}

/// What a task needs from an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Demand {
    /// CPU units.
    pub cpu: i64,
    /// MiB.
    pub memory: i64,
    /// Static TCP host ports.
    pub ports: Vec<u16>,
    /// Static UDP host ports.
    pub ports_udp: Vec<u16>,
}

impl Demand {
    /// Resources a task of `def` with `overrides` reserves: task-level cpu/memory when set, else the
    /// sum over containers (memory, else memoryReservation); static host ports.
    pub fn of(def: &Value, overrides: &Value) -> Result<Demand, ApiError> {
        let containers = def
            .get("containerDefinitions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let over = |name: &str, key: &str| {
            overrides
                .get("containerOverrides")
                .and_then(Value::as_array)
                .and_then(|os| {
                    os.iter()
                        .find(|o| o.get("name").and_then(Value::as_str) == Some(name))
                })
                .and_then(|o| def_number(o.get(key)))
        };
        let mut cpu = 0;
        let mut memory = 0;
        let mut ports = Vec::new();
        let mut ports_udp = Vec::new();
        let host_mode = def.get("networkMode").and_then(Value::as_str) == Some("host");
        for c in &containers {
            let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
            cpu += over(name, "cpu")
                .or_else(|| def_number(c.get("cpu")))
                .unwrap_or(0);
            memory += over(name, "memory")
                .or_else(|| def_number(c.get("memory")))
                .or_else(|| over(name, "memoryReservation"))
                .or_else(|| def_number(c.get("memoryReservation")))
                .unwrap_or(0);
            for pm in c
                .get("portMappings")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
            {
                let host = def_number(pm.get("hostPort"))
                    .filter(|p| *p > 0)
                    .or_else(|| {
                        host_mode
                            .then(|| def_number(pm.get("containerPort")))
                            .flatten()
                    });
                if let Some(p) = host.and_then(|p| u16::try_from(p).ok()) {
                    if pm.get("protocol").and_then(Value::as_str) == Some("udp") {
                        ports_udp.push(p);
                    } else {
                        ports.push(p);
                    }
                }
            }
        }
        let task_cpu = overrides
            .get("cpu")
            .and_then(|v| def_number(Some(v)))
            .or_else(|| def_number(def.get("cpu")));
        let task_memory = overrides
            .get("memory")
            .and_then(|v| def_number(Some(v)))
            .or_else(|| def_number(def.get("memory")));
        Ok(Demand {
            cpu: task_cpu.unwrap_or(cpu),
            memory: task_memory.unwrap_or(memory),
            ports,
            ports_udp,
        })
    }
}

/// What to place: RunTask's, StartTask's or a service's tasks.
pub(crate) struct TaskSpec {
    pub(crate) family: String,
    pub(crate) revision: u32,
    pub(crate) count: usize,
    pub(crate) overrides: Value,
    pub(crate) started_by: Option<String>,
    pub(crate) group: Option<String>,
    pub(crate) launch_type: String,
    pub(crate) tags: Vec<Tag>,
    /// RunTask's `placementConstraints` (the task definition's are added at placement).
    pub(crate) placement_constraints: Vec<Value>,
    /// RunTask's or the service's strategies; none ranks by remaining memory alone.
    pub(crate) placement_strategy: Vec<Strategy>,
}

// ---- request shapes (members as botocore's ECS model names them) ----

/// CreateCluster input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateClusterRequest {
    /// Name.
    pub cluster_name: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Settings.
    #[serde(default)]
    pub settings: Vec<Value>,
}

/// `{cluster}` input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRef {
    /// Cluster name or ARN.
    pub cluster: String,
}

/// DescribeClusters input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeClustersRequest {
    /// Names or ARNs.
    #[serde(default)]
    pub clusters: Vec<String>,
}

/// Plain list input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListRequest {
    /// Page token.
    pub next_token: Option<String>,
    /// Page size.
    pub max_results: Option<i64>,
}

/// RegisterContainerInstance input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterContainerInstanceRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Set when re-registering.
    pub container_instance_arn: Option<String>,
    /// EC2 identity document (empty on EXTERNAL).
    pub instance_identity_document: Option<String>,
    /// Its signature.
    pub instance_identity_document_signature: Option<String>,
    /// Resources.
    #[serde(default)]
    pub total_resources: Vec<Resource>,
    /// Attributes.
    #[serde(default)]
    pub attributes: Vec<Attribute>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Versions.
    pub version_info: Option<VersionInfo>,
    /// Idempotency token.
    pub client_token: Option<String>,
    /// GPUs.
    #[serde(default)]
    pub platform_devices: Vec<Value>,
}

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

/// DescribeTaskDefinition / DeregisterTaskDefinition input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeTaskDefinitionRequest {
    /// family, family:rev or ARN.
    pub task_definition: String,
    /// `TAGS`.
    #[serde(default)]
    pub include: Vec<String>,
}

/// ListTaskDefinitions input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTaskDefinitionsRequest {
    /// Prefix of the family.
    pub family_prefix: Option<String>,
    /// ACTIVE / INACTIVE.
    pub status: Option<String>,
    /// ASC / DESC.
    pub sort: Option<String>,
    /// Page token.
    pub next_token: Option<String>,
    /// Page size.
    pub max_results: Option<i64>,
}

/// ListTaskDefinitionFamilies input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTaskDefinitionFamiliesRequest {
    /// Prefix.
    pub family_prefix: Option<String>,
    /// ACTIVE / INACTIVE / ALL.
    pub status: Option<String>,
    /// Page token.
    pub next_token: Option<String>,
    /// Page size.
    pub max_results: Option<i64>,
}

/// RunTask input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunTaskRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Task definition.
    pub task_definition: String,
    /// 1..10.
    pub count: Option<i64>,
    /// EC2 / EXTERNAL.
    pub launch_type: Option<String>,
    /// startedBy.
    pub started_by: Option<String>,
    /// group.
    pub group: Option<String>,
    /// TaskOverride.
    pub overrides: Option<Value>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// PlacementConstraints (`memberOf`, `distinctInstance`).
    #[serde(default)]
    pub placement_constraints: Vec<Value>,
    /// PlacementStrategy (`binpack`, `spread`, `random`), at most five.
    #[serde(default)]
    pub placement_strategy: Vec<Value>,
}

/// StartTask input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartTaskRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Task definition.
    pub task_definition: String,
    /// Instances.
    #[serde(default)]
    pub container_instances: Vec<String>,
    /// startedBy.
    pub started_by: Option<String>,
    /// group.
    pub group: Option<String>,
    /// TaskOverride.
    pub overrides: Option<Value>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// StopTask input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopTaskRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Task.
    pub task: String,
    /// Reason.
    pub reason: Option<String>,
}

/// DescribeTasks input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeTasksRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Tasks.
    #[serde(default)]
    pub tasks: Vec<String>,
    /// TAGS.
    #[serde(default)]
    pub include: Vec<String>,
}

/// ListTasks input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTasksRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Instance.
    pub container_instance: Option<String>,
    /// Family.
    pub family: Option<String>,
    /// startedBy.
    pub started_by: Option<String>,
    /// Service name: the tasks of that service.
    pub service_name: Option<String>,
    /// RUNNING (default), PENDING, STOPPED.
    pub desired_status: Option<String>,
    /// Launch type.
    pub launch_type: Option<String>,
    /// Page token.
    pub next_token: Option<String>,
    /// Page size.
    pub max_results: Option<i64>,
}

/// A container change inside SubmitTaskStateChange.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStateChange {
    /// Name.
    pub container_name: Option<String>,
    /// Digest.
    pub image_digest: Option<String>,
    /// Docker id.
    pub runtime_id: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Exit code.
    pub exit_code: Option<i64>,
    /// Reason.
    pub reason: Option<String>,
    /// Bindings.
    #[serde(default)]
    pub network_bindings: Vec<Value>,
}

/// SubmitTaskStateChange input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitTaskStateChangeRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Task ARN.
    pub task: Option<String>,
    /// PENDING / RUNNING / STOPPED.
    pub status: Option<String>,
    /// Reason.
    pub reason: Option<String>,
    /// Container changes.
    #[serde(default)]
    pub containers: Vec<ContainerStateChange>,
    /// Epoch seconds.
    pub pull_started_at: Option<f64>,
    /// Epoch seconds.
    pub pull_stopped_at: Option<f64>,
    /// Epoch seconds.
    pub execution_stopped_at: Option<f64>,
}

/// SubmitContainerStateChange input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitContainerStateChangeRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Task ARN.
    pub task: Option<String>,
    /// Name.
    pub container_name: Option<String>,
    /// Docker id.
    pub runtime_id: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Exit code.
    pub exit_code: Option<i64>,
    /// Reason.
    pub reason: Option<String>,
    /// Bindings.
    #[serde(default)]
    pub network_bindings: Vec<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Account;

    fn state() -> State {
        State::new(Account {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
        })
    }

    fn register(s: &mut State, cpu: i64, mem: i64) -> String {
        let req: RegisterContainerInstanceRequest = serde_json::from_value(json!({
            "cluster": "default",
            "totalResources": [
                {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": mem},
                {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22", "51678"]},
                {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []}
            ],
            "attributes": [{"name": "ecs.capability.external"}, {"name": "ecs.os-type", "value": "linux"}],
            "instanceIdentityDocument": ""
        }))
        .unwrap();
        let v = s.register_instance(req, 1.0).unwrap();
        let arn = v["containerInstance"]["containerInstanceArn"]
            .as_str()
            .unwrap()
            .to_string();
        s.agent_connected(&arn, VersionInfo::default());
        arn
    }

    fn task_def(s: &mut State, memory: i64, host_port: i64) -> String {
        let v = s
            .register_task_definition(
                json!({
                    "family": "web",
                    "containerDefinitions": [{
                        "name": "web", "image": "127.0.0.1:5000/web:1", "memory": memory, "cpu": 256,
                        "portMappings": [{"containerPort": 8080, "hostPort": host_port}]
                    }]
                }),
                1.0,
            )
            .unwrap();
        v["taskDefinition"]["taskDefinitionArn"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn run(s: &mut State, def: &str, count: i64) -> Value {
        s.run_task(
            serde_json::from_value(json!({"taskDefinition": def, "count": count})).unwrap(),
            2.0,
        )
        .unwrap()
    }

    #[test]
    fn run_task_without_instances_is_refused_as_ecs_does() {
        let mut s = state();
        let def = task_def(&mut s, 128, 0);
        let e = s
            .run_task(
                serde_json::from_value(json!({"taskDefinition": def})).unwrap(),
                1.0,
            )
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParameterException);
        assert_eq!(
            e.message,
            "No Container Instances were found in your cluster."
        );
    }

    #[test]
    fn memory_shortage_is_a_resource_memory_failure() {
        let mut s = state();
        let arn = register(&mut s, 2048, 1000);
        let def = task_def(&mut s, 4000, 0);
        let v = run(&mut s, &def, 1);
        assert_eq!(v["tasks"], json!([]));
        assert_eq!(
            v["failures"],
            json!([{"arn": arn, "reason": "RESOURCE:MEMORY"}])
        );
    }

    #[test]
    fn resources_are_reserved_until_the_task_is_reported_stopped() {
        let mut s = state();
        register(&mut s, 1024, 300);
        let def = task_def(&mut s, 200, 0);
        let v = run(&mut s, &def, 2);
        assert_eq!(v["tasks"].as_array().unwrap().len(), 1);
        assert_eq!(v["failures"][0]["reason"], "RESOURCE:MEMORY");
        let task = v["tasks"][0]["taskArn"].as_str().unwrap().to_string();
        s.submit_task_state_change(
            serde_json::from_value(json!({"task": task, "status": "STOPPED", "reason": "Essential container in task exited"})).unwrap(),
            3.0,
        )
        .unwrap();
        let t = &s.tasks[&task];
        assert_eq!(t.stop_code.as_deref(), Some("EssentialContainerExited"));
        assert_eq!(t.desired_status, "STOPPED");
        assert_eq!(run(&mut s, &def, 1)["tasks"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn static_host_ports_conflict_and_dynamic_ones_do_not() {
        let mut s = state();
        register(&mut s, 4096, 4096);
        let fixed = task_def(&mut s, 64, 8080);
        assert_eq!(
            run(&mut s, &fixed, 2)["failures"][0]["reason"],
            "RESOURCE:PORTS"
        );
        let reserved = task_def(&mut s, 64, 22);
        assert_eq!(
            run(&mut s, &reserved, 1)["failures"][0]["reason"],
            "RESOURCE:PORTS"
        );
        let dynamic = task_def(&mut s, 64, 0);
        assert_eq!(
            run(&mut s, &dynamic, 5)["tasks"].as_array().unwrap().len(),
            5
        );
    }

    #[test]
    fn disconnected_agents_get_no_tasks() {
        let mut s = state();
        let arn = register(&mut s, 4096, 4096);
        s.agent_disconnected(&arn);
        let def = task_def(&mut s, 64, 0);
        assert_eq!(run(&mut s, &def, 1)["failures"][0]["reason"], "AGENT");
    }

    #[test]
    fn required_attributes_and_constraints_filter_instances() {
        let mut s = state();
        let arn = register(&mut s, 4096, 4096);
        let v = s
            .register_task_definition(
                json!({"family": "logs", "containerDefinitions": [{
                    "name": "app", "image": "x", "memory": 64,
                    "logConfiguration": {"logDriver": "awslogs"}}]}),
                1.0,
            )
            .unwrap();
        let def = v["taskDefinition"]["taskDefinitionArn"].as_str().unwrap();
        let out = run(&mut s, def, 1);
        assert_eq!(out["tasks"], json!([]));
        assert_eq!(
            out["failures"],
            json!([{"arn": arn, "reason": "ATTRIBUTE"}])
        );

        let web = task_def(&mut s, 64, 0);
        let req = |c: Value| {
            serde_json::from_value(
                json!({"taskDefinition": web, "count": 2, "placementConstraints": c}),
            )
            .unwrap()
        };
        let out = s
            .run_task(
                req(
                    json!([{"type": "memberOf", "expression": "attribute:ecs.os-type == windows"}]),
                ),
                2.0,
            )
            .unwrap();
        assert_eq!(
            out["failures"][0]["reason"],
            "MemberOf placement constraint unsatisfied."
        );
        let out = s
            .run_task(req(json!([{"type": "distinctInstance"}])), 2.0)
            .unwrap();
        assert_eq!(out["tasks"].as_array().unwrap().len(), 1);
        assert_eq!(
            out["failures"][0]["reason"],
            "DistinctInstance placement constraint unsatisfied."
        );
        let bad = s
            .run_task(
                req(json!([{"type": "memberOf", "expression": "attribute:x =="}])),
                2.0,
            )
            .unwrap_err();
        assert!(bad.to_string().contains("attribute:x =="), "{bad}");
    }

    #[test]
    fn placement_and_stop_send_payloads_that_acks_clear() {
        let mut s = state();
        let arn = register(&mut s, 4096, 4096);
        let def = task_def(&mut s, 64, 0);
        let task = run(&mut s, &def, 1)["tasks"][0]["taskArn"]
            .as_str()
            .unwrap()
            .to_string();
        s.stop_task(
            serde_json::from_value(json!({"task": task, "reason": "bye"})).unwrap(),
            3.0,
        )
        .unwrap();
        let out = s.outbox[&arn].clone();
        assert_eq!(out.len(), 2);
        let frame: Value = serde_json::from_str(&out[1].frame).unwrap();
        assert_eq!(frame["type"], "PayloadMessage");
        assert_eq!(frame["message"]["tasks"][0]["desiredStatus"], "STOPPED");
        assert_eq!(frame["message"]["seqNum"], 2);
        s.ack(&arn, &out[0].message_id);
        assert_eq!(s.outbox[&arn].len(), 1);
    }

    #[test]
    fn task_definition_revisions_increase_and_defaults_are_filled() {
        let mut s = state();
        let a = task_def(&mut s, 64, 0);
        let b = task_def(&mut s, 64, 0);
        assert!(a.ends_with("task-definition/web:1"));
        assert!(b.ends_with("task-definition/web:2"));
        let d = s
            .describe_task_definition(
                serde_json::from_value(json!({"taskDefinition": "web"})).unwrap(),
            )
            .unwrap();
        assert_eq!(d["taskDefinition"]["revision"], 2);
        let c = &d["taskDefinition"]["containerDefinitions"][0];
        assert_eq!(c["essential"], true);
        assert_eq!(c["portMappings"][0]["protocol"], "tcp");
    }

    #[test]
    fn memory_is_required_somewhere_on_ec2() {
        let mut s = state();
        let e = s
            .register_task_definition(
                json!({"family": "f", "containerDefinitions": [{"name": "a", "image": "i"}]}),
                1.0,
            )
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::ClientException);
        assert!(
            e.message
                .contains("At least one of 'memory' or 'memoryReservation'")
        );
    }

    #[test]
    fn pagination_walks_every_item_once() {
        let items: Vec<i32> = (0..250).collect();
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let (page, next) = paginate(&items, token.as_deref(), Some(100)).unwrap();
            seen.extend(page);
            match next {
                Some(n) => token = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, items);
        assert!(paginate(&items, Some("bogus"), None).is_err());
        assert!(paginate(&items, None, Some(0)).is_err());
    }

    #[test]
    fn task_sizes_parse_as_ecs_accepts_them() {
        assert_eq!(parse_task_size("512"), Some(512));
        assert_eq!(parse_task_size("0.5 vCPU"), Some(512));
        assert_eq!(parse_task_size("1 GB"), Some(1024));
        assert_eq!(parse_task_size("lots"), None);
    }

    fn secrets_def() -> Value {
        json!({
            "family": "sec",
            "containerDefinitions": [{
                "name": "app", "image": "127.0.0.1:5000/web:1", "memory": 64,
                "secrets": [
                    {"name": "DB_PASSWORD", "valueFrom": "/app/db/password"},
                    {"name": "API_KEY", "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:api-AbC123"},
                    {"name": "X", "valueFrom": "arn:aws:ssm:us-west-2:123456789012:parameter/x"}
                ],
                "logConfiguration": {
                    "logDriver": "splunk",
                    "options": {"splunk-url": "https://splunk.example"},
                    "secretOptions": [{"name": "splunk-token", "valueFrom": "splunk/token"}]
                }
            }]
        })
    }

    #[test]
    fn secrets_need_an_execution_role_as_ecs_says() {
        let mut s = state();
        let e = s.register_task_definition(secrets_def(), 1.0).unwrap_err();
        assert_eq!(e.code, ErrorCode::ClientException);
        assert_eq!(
            e.message,
            "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'."
        );
        let mut only_log = secrets_def();
        only_log["containerDefinitions"][0]
            .as_object_mut()
            .unwrap()
            .remove("secrets");
        let e = s.register_task_definition(only_log, 1.0).unwrap_err();
        assert_eq!(e.code, ErrorCode::ClientException);
    }

    #[test]
    fn container_secrets_reach_acs_as_the_reference_agent_reads_them() {
        let mut s = state();
        let mut def = secrets_def();
        def["executionRoleArn"] = json!("arn:aws:iam::123456789012:role/exec");
        let v = s.register_task_definition(def, 1.0).unwrap();
        let names: Vec<&str> = v["taskDefinition"]["requiresAttributes"]
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
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        assert!(!names.contains(&"ecs.capability.secrets.asm.bootstrap.log-driver"));
        let arn = v["taskDefinition"]["taskDefinitionArn"]
            .as_str()
            .unwrap()
            .to_string();
        // An instance without the secrets capabilities cannot take the task.
        register(&mut s, 1024, 1024);
        let out = run(&mut s, &arn, 1);
        assert_eq!(out["failures"][0]["reason"], "ATTRIBUTE", "{out}");
        let req: RegisterContainerInstanceRequest = serde_json::from_value(json!({
            "cluster": "default",
            "totalResources": [
                {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": 1024}
            ],
            "attributes": names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
            "instanceIdentityDocument": ""
        }))
        .unwrap();
        let inst =
            s.register_instance(req, 1.0).unwrap()["containerInstance"]["containerInstanceArn"]
                .as_str()
                .unwrap()
                .to_string();
        s.agent_connected(&inst, VersionInfo::default());
        let out = run(&mut s, &arn, 1);
        assert_eq!(out["tasks"].as_array().unwrap().len(), 1, "{out}");
        let frame: Value = serde_json::from_str(&s.outbox[&inst][0].frame).unwrap();
        let c = &frame["message"]["tasks"][0]["containers"][0];
        assert_eq!(
            c["secrets"],
            json!([
                {"name": "DB_PASSWORD", "valueFrom": "/app/db/password", "region": "us-east-1",
                 "provider": "ssm", "type": "ENVIRONMENT_VARIABLE", "target": "CONTAINER"},
                {"name": "API_KEY", "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:api-AbC123",
                 "region": "eu-west-1", "provider": "asm", "type": "ENVIRONMENT_VARIABLE", "target": "CONTAINER"},
                {"name": "X", "valueFrom": "arn:aws:ssm:us-west-2:123456789012:parameter/x",
                 "region": "us-west-2", "provider": "ssm", "type": "ENVIRONMENT_VARIABLE", "target": "CONTAINER"},
                {"name": "splunk-token", "valueFrom": "splunk/token", "region": "us-east-1",
                 "provider": "ssm", "type": "BOOTSTRAP", "target": "LOG_DRIVER"}
            ])
        );
        // The secret options are not log options: the agent adds their values itself.
        let host: Value =
            serde_json::from_str(c["dockerConfig"]["hostConfig"].as_str().unwrap()).unwrap();
        assert_eq!(
            host["LogConfig"],
            json!({"Type": "splunk", "Config": {"splunk-url": "https://splunk.example"}})
        );
        assert!(frame["message"]["tasks"][0]["executionRoleCredentials"].is_object());
    }
}
