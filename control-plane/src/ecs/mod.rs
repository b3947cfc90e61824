//! The emulated ECS: clusters, container instances, task definitions, tasks, placement,
//! services, tagging, the ACS payloads built for the agent, and task role credentials.
//!
//! The rules are pure, synchronous functions over [`state::State`], one file per resource; the
//! [`state::StateHandle`] actor owns the state and persists each command's changes before
//! answering. [`Ecs`] is the service the front calls: it decodes an operation's request and
//! runs it on the actor, except DescribeTasks, answered from the [`read_view::ReadView`] the
//! actor publishes after each batch.

pub mod acs_payload;
#[cfg(test)]
mod acs_payload_tests;
pub mod agent;
pub mod cloudwatch_facts;
pub mod clusters;
pub mod common;
pub mod health;
pub mod instances;
pub mod load_balancing;
pub mod model;
pub mod placement;
pub mod read_view;
pub mod roles;
pub mod services;
pub mod state;
pub mod tagging;
pub mod task_definitions;
pub mod taskdef;
pub mod taskdef_check;
#[cfg(test)]
mod taskdef_tests;
pub mod tasks;
#[cfg(test)]
mod tests;

use ecs_protocol::ecs_api::{DiscoverPollEndpointRequest, DiscoverPollEndpointResponse};
use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::elbv2::Elbv2Handle;
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
    elbv2: Option<Elbv2Handle>,
}

impl Ecs {
    /// ECS over the state actor `state`; DiscoverPollEndpoint answers `advertise_url`, or the
    /// Host the agent called when `None`.
    pub fn new(state: StateHandle, advertise_url: Option<String>) -> Self {
        Ecs {
            state,
            advertise_url,
            elbv2: None,
        }
    }

    /// Services' `loadBalancers` are checked against (and registered in) `elbv2`'s target groups.
    #[must_use]
    pub fn with_elbv2(mut self, elbv2: Elbv2Handle) -> Self {
        self.elbv2 = Some(elbv2);
        self
    }

    /// Checks the target groups a CreateService or UpdateService names, as ECS asks ELB before
    /// it accepts them: they exist, have a load balancer, and suit the task's network mode.
    async fn check_target_groups(
        &self,
        cluster: Option<String>,
        service: Option<String>,
        task_definition: Option<String>,
        given: Option<Vec<Value>>,
        now: f64,
    ) -> Result<(), ApiError> {
        let Some(given) = given.filter(|g| !g.is_empty()) else {
            return Ok(());
        };
        let lbs = load_balancing::parse_load_balancers(&given)?;
        let network_mode = self
            .state
            .call(move |s| {
                let td = match (task_definition, service) {
                    (Some(td), _) => Some(td),
                    (None, Some(svc)) => {
                        let cluster = s.cluster(cluster.as_deref()).ok()?;
                        let arn = if svc.starts_with("arn:") {
                            svc
                        } else {
                            s.service_arn(&cluster, &svc)
                        };
                        s.services.get(&arn).map(|x| x.task_definition.clone())
                    }
                    (None, None) => None,
                }?;
                let (family, revision) = s.resolve_task_def(&td).ok()?;
                s.task_def(&family, revision)
                    .map(|d| d.network_mode().to_string())
            })
            .await?
            .unwrap_or_else(|| "bridge".into());
        let Some(elb) = &self.elbv2 else {
            return Err(ApiError::invalid(
                "Load balancers are not available in this control plane.",
            ));
        };
        load_balancing::check_target_groups(elb, &lbs, &network_mode, now).await
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
            // Answered from the published view, without queueing behind writes.
            "DescribeTasks" => {
                let req: tasks::DescribeTasksRequest = decode(body)?;
                match tasks::describe_tasks_from_view(st.view(), &req) {
                    Some(answer) => answer?,
                    None => st.call(move |s| s.describe_tasks(req)).await??,
                }
            }
            "ListTasks" => op!(list_tasks),
            "SubmitTaskStateChange" => op!(submit_task_state_change, now, schedule),
            "SubmitContainerStateChange" => op!(submit_container_state_change),
            "TagResource" => op!(tag_resource),
            "UntagResource" => op!(untag_resource),
            "ListTagsForResource" => op!(list_tags_for_resource),
            "CreateService" => {
                let req: services::CreateServiceRequest = decode(body)?;
                self.check_target_groups(
                    req.cluster,
                    None,
                    req.task_definition,
                    Some(req.load_balancers),
                    now,
                )
                .await?;
                op!(create_service, now, schedule)
            }
            "DescribeServices" => op!(describe_services),
            "ListServices" => op!(list_services),
            "UpdateService" => {
                let req: services::UpdateServiceRequest = decode(body)?;
                self.check_target_groups(
                    req.cluster,
                    Some(req.service),
                    req.task_definition,
                    req.load_balancers,
                    now,
                )
                .await?;
                op!(update_service, now, schedule)
            }
            "DeleteService" => op!(delete_service, schedule),
            "DiscoverPollEndpoint" => {
                let req: DiscoverPollEndpointRequest = decode(body)?;
                st.call(move |s| s.cluster(req.cluster.as_deref()).map(|_| ()))
                    .await??;
                let base = self.advertise_url.clone().unwrap_or_else(|| ctx.base_url());
                poll_endpoints(base)?
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

/// The DiscoverPollEndpoint answer: ACS, TCS, Service Connect and system logs all at `base`.
fn poll_endpoints(base: String) -> Result<Value, ApiError> {
    serde_json::to_value(DiscoverPollEndpointResponse {
        endpoint: Some(base.clone()),
        telemetry_endpoint: Some(base.clone()),
        service_connect_endpoint: Some(base.clone()),
        system_logs_endpoint: Some(base),
    })
    .map_err(|e| ApiError::server(format!("DiscoverPollEndpoint answer: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod poll_endpoint_tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn discover_poll_endpoint_answer_shape() {
        assert_eq!(
            poll_endpoints("http://127.0.0.1:4566".into()).unwrap(),
            json!({
                "endpoint": "http://127.0.0.1:4566",
                "telemetryEndpoint": "http://127.0.0.1:4566",
                "serviceConnectEndpoint": "http://127.0.0.1:4566",
                "systemLogsEndpoint": "http://127.0.0.1:4566",
            })
        );
    }

    #[test]
    fn discover_poll_endpoint_request_takes_what_the_agents_send() {
        let req: DiscoverPollEndpointRequest = crate::front::json::decode(
            br#"{"cluster":"default","containerInstance":"arn:aws:ecs:us-east-1:123456789012:container-instance/default/abc","zoneId":""}"#,
        )
        .unwrap();
        assert_eq!(req.cluster.as_deref(), Some("default"));
        let empty: DiscoverPollEndpointRequest = crate::front::json::decode(b"").unwrap();
        assert_eq!(empty.cluster, None);
    }
}
