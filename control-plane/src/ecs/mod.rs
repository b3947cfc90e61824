//! The emulated ECS: clusters, container instances, task definitions, tasks, placement,
//! services, tagging, the ACS payloads built for the agent, and task role credentials.
//!
//! The rules are pure, synchronous functions over [`state::State`], one file per resource; the
//! [`state::StateHandle`] actor owns the state and persists each command's changes before
//! answering. [`Ecs`] is the service the front calls: it decodes an operation's request and
//! runs it on the actor.

pub mod acs_payload;
pub mod agent;
pub mod clusters;
pub mod common;
pub mod health;
pub mod instances;
pub mod model;
pub mod placement;
pub mod roles;
pub mod services;
pub mod state;
pub mod tagging;
pub mod task_definitions;
pub mod taskdef_check;
pub mod tasks;
#[cfg(test)]
mod tests;

use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use crate::front::json::decode;
use crate::front::sigv4::Flavor;
use crate::front::{
    ApiError, ErrorCode, Input, JSON_1_1, Output, Protocol, RequestContext, Service, ServiceInfo,
};
use state::StateHandle;

/// ECS's `X-Amz-Target` prefix.
pub const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113.";

/// The emulated ECS API.
#[derive(Debug, Clone)]
pub struct Ecs {
    state: StateHandle,
    advertise_url: Option<String>,
}

impl Ecs {
    /// ECS over the state actor `state`; DiscoverPollEndpoint answers `advertise_url`, or the
    /// Host the agent called when `None`.
    pub fn new(state: StateHandle, advertise_url: Option<String>) -> Self {
        Ecs {
            state,
            advertise_url,
        }
    }
}

impl Service for Ecs {
    fn info(&self) -> ServiceInfo {
        ServiceInfo {
            name: "ecs",
            signing_name: "ecs",
            protocol: Protocol::AwsJson {
                target_prefix: TARGET_PREFIX,
                content_type: JSON_1_1,
                message_member: "message",
            },
            flavor: Flavor::Standard,
            max_body: 2 << 20,
        }
    }

    fn call(&self, ctx: RequestContext, input: Input) -> BoxFuture<'_, Result<Output, ApiError>> {
        Box::pin(async move {
            let Input::Json { operation, body } = input else {
                return Err(ApiError::new(ErrorCode::UnknownOperationException, ""));
            };
            self.dispatch(&ctx, &operation, &body)
                .await
                .map(Output::Json)
        })
    }
}

impl Ecs {
    async fn dispatch(
        &self,
        ctx: &RequestContext,
        op: &str,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let st = &self.state;
        let now = ctx.now;
        macro_rules! op {
            ($method:ident) => {{
                let req = decode(body)?;
                st.call(move |s| s.$method(req)).await??
            }};
            ($method:ident, now) => {{
                let req = decode(body)?;
                st.call(move |s| s.$method(req, now)).await??
            }};
            // Operations after which the service scheduler may have work: it runs in the same
            // command, after the answer is computed (so CreateService answers before any placement).
            ($method:ident, schedule) => {{
                let req = decode(body)?;
                st.call(move |s| {
                    let r = s.$method(req);
                    if r.is_ok() {
                        s.schedule_services(now);
                    }
                    r
                })
                .await??
            }};
            ($method:ident, now, schedule) => {{
                let req = decode(body)?;
                st.call(move |s| {
                    let r = s.$method(req, now);
                    if r.is_ok() {
                        s.schedule_services(now);
                    }
                    r
                })
                .await??
            }};
        }
        let response = match op {
            "CreateCluster" => op!(create_cluster),
            "DeleteCluster" => op!(delete_cluster),
            "DescribeClusters" => op!(describe_clusters),
            "ListClusters" => op!(list_clusters),
            "RegisterContainerInstance" => op!(register_instance, now, schedule),
            "DeregisterContainerInstance" => op!(deregister_instance, schedule),
            "DescribeContainerInstances" => op!(describe_instances),
            "ListContainerInstances" => op!(list_instances),
            "UpdateContainerInstancesState" => op!(update_instances_state, schedule),
            "PutAttributes" => op!(put_attributes, schedule),
            "DeleteAttributes" => op!(delete_attributes, schedule),
            "ListAttributes" => op!(list_attributes),
            "RegisterTaskDefinition" => op!(register_task_definition, now),
            "DeregisterTaskDefinition" => op!(deregister_task_definition, now),
            "DescribeTaskDefinition" => op!(describe_task_definition),
            "ListTaskDefinitions" => op!(list_task_definitions),
            "ListTaskDefinitionFamilies" => op!(list_task_definition_families),
            "RunTask" => op!(run_task, now),
            "StartTask" => op!(start_task, now),
            "StopTask" => op!(stop_task, now, schedule),
            "DescribeTasks" => op!(describe_tasks),
            "ListTasks" => op!(list_tasks),
            "SubmitTaskStateChange" => op!(submit_task_state_change, now, schedule),
            "SubmitContainerStateChange" => op!(submit_container_state_change),
            "TagResource" => op!(tag_resource),
            "UntagResource" => op!(untag_resource),
            "ListTagsForResource" => op!(list_tags_for_resource),
            "CreateService" => op!(create_service, now, schedule),
            "DescribeServices" => op!(describe_services),
            "ListServices" => op!(list_services),
            "UpdateService" => op!(update_service, now, schedule),
            "DeleteService" => op!(delete_service, schedule),
            "DiscoverPollEndpoint" => {
                let req: DiscoverPollEndpointRequest = decode(body)?;
                st.call(move |s| s.cluster(req.cluster.as_deref()).map(|_| ()))
                    .await??;
                let base = self
                    .advertise_url
                    .clone()
                    .unwrap_or_else(|| format!("http://{}", ctx.host));
                json!({
                    "endpoint": base,
                    "telemetryEndpoint": base,
                    "serviceConnectEndpoint": base,
                    "systemLogsEndpoint": base,
                })
            }
            other => {
                return Err(ApiError::new(
                    ErrorCode::UnknownOperationException,
                    format!("The operation {other} is not supported by this emulator."),
                ));
            }
        };
        Ok(response)
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct DiscoverPollEndpointRequest {
    cluster: Option<String>,
    #[allow(dead_code)]
    container_instance: Option<String>,
}
