//! Clusters: CreateCluster, DeleteCluster, DescribeClusters, ListClusters.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::ecs::common::{paginate, short_name, valid_name, with_next};
use crate::ecs::model::{Cluster, Tag, api_view};
use crate::ecs::state::{Key, State};
use crate::front::{ApiError, ErrorCode};
use ecs_protocol::BackendStatus;

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

    pub(crate) fn put_cluster(
        &mut self,
        name: &str,
        tags: Vec<Tag>,
        settings: Vec<Value>,
    ) -> Cluster {
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

    pub(crate) fn cluster_view(&self, c: &Cluster) -> Value {
        let instances = self
            .instances
            .values()
            .filter(|i| i.cluster_name == c.cluster_name && i.status != "INACTIVE")
            .count();
        let tasks = self
            .tasks
            .values()
            .filter(|t| t.cluster_arn == c.cluster_arn && t.last_status != BackendStatus::Stopped);
        let (mut running, mut pending) = (0, 0);
        for t in tasks {
            if t.last_status == BackendStatus::Running {
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
            .any(|t| t.cluster_arn == c.cluster_arn && t.last_status != BackendStatus::Stopped)
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
