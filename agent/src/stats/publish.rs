//! A round of task metrics as the `PublishMetricsRequest` frames the reference sends
//! (`metricsToPublishMetricRequests` in `ecs-agent/tcs/client/client.go`). Pure.
//!
//! An idle instance (no container watched) sends one request, `idle` and `fin`, without tasks.
//! Otherwise the tasks are cut into requests of at most [`TASKS_PER_MESSAGE`] tasks and at most
//! [`MESSAGE_SIZE_LIMIT`] bytes of JSON (a task that alone is larger goes alone); every request
//! of the round carries the same `messageId`, and only the last `fin: true`.

use std::time::SystemTime;

use ecs_protocol::Timestamp;
use ecs_protocol::tcs::{MetricsMetadata, PublishMetricsRequest, TaskMetric, TcsMessage};

/// Tasks in one request at most (the reference's `tasksInMetricMessage`).
pub const TASKS_PER_MESSAGE: usize = 10;

/// Bytes of JSON in one request at most (the reference's `publishMetricRequestSizeLimit`).
pub const MESSAGE_SIZE_LIMIT: usize = 1024 * 1024;

/// Who sends the round.
#[derive(Debug, Clone, Copy)]
pub struct Sender<'a> {
    pub cluster: &'a str,
    pub instance_arn: &'a str,
    /// One id for the whole round.
    pub message_id: &'a str,
}

/// The requests of one round. `idle` when no container is watched; then `tasks` is ignored.
pub fn metrics_requests(
    sender: Sender<'_>,
    idle: bool,
    tasks: Vec<TaskMetric>,
    now: SystemTime,
) -> Vec<TcsMessage> {
    let timestamp = Timestamp::from_system_time(now);
    let request = |tasks: Option<Vec<TaskMetric>>, fin: bool| {
        TcsMessage::PublishMetricsRequest(PublishMetricsRequest {
            instance_metrics: None,
            metadata: Some(MetricsMetadata {
                cluster: Some(sender.cluster.to_owned()),
                container_instance: Some(sender.instance_arn.to_owned()),
                fin: Some(fin),
                idle: Some(idle),
                message_id: Some(sender.message_id.to_owned()),
            }),
            task_metrics: tasks,
            timestamp: Some(timestamp),
        })
    };
    if idle {
        return vec![request(None, true)];
    }
    // The envelope without tasks, then each task's JSON and a comma.
    let base = request(Some(Vec::new()), false)
        .encode()
        .map_or(0, |t| t.len());
    let mut chunks: Vec<Vec<TaskMetric>> = Vec::new();
    let mut current: Vec<TaskMetric> = Vec::new();
    let mut size = base;
    for task in tasks {
        let task_size = serde_json::to_string(&task).map_or(0, |t| t.len()) + 1;
        if !current.is_empty() && size + task_size > MESSAGE_SIZE_LIMIT {
            chunks.push(std::mem::take(&mut current));
            size = base;
        }
        size += task_size;
        current.push(task);
        if current.len() == TASKS_PER_MESSAGE {
            chunks.push(std::mem::take(&mut current));
            size = base;
        }
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    let last = chunks.len().saturating_sub(1);
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| request(Some(chunk), i == last))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecs_protocol::tcs::ContainerMetric;
    use serde_json::json;

    const SENDER: Sender<'static> = Sender {
        cluster: "c",
        instance_arn: "arn:ci",
        message_id: "m1",
    };

    fn task(n: usize, name_len: usize) -> TaskMetric {
        TaskMetric {
            task_arn: Some(format!("arn:task/{n}")),
            task_definition_family: Some("f".into()),
            task_definition_version: Some("1".into()),
            container_metrics: Some(vec![ContainerMetric {
                container_name: Some("x".repeat(name_len)),
                ..ContainerMetric::default()
            }]),
            ..TaskMetric::default()
        }
    }

    fn parts(messages: &[TcsMessage]) -> Vec<(usize, bool, String)> {
        messages
            .iter()
            .map(|m| {
                let TcsMessage::PublishMetricsRequest(r) = m else {
                    panic!("{m:?}")
                };
                let md = r.metadata.clone().unwrap();
                assert_eq!(md.idle, Some(false));
                (
                    r.task_metrics.as_ref().map_or(0, Vec::len),
                    md.fin.unwrap(),
                    md.message_id.unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn an_idle_instance_sends_one_idle_final_request_as_the_reference() {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_796_591_162_040);
        let m = metrics_requests(SENDER, true, vec![task(1, 1)], at);
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!([{"type": "PublishMetricsRequest", "message": {
                "metadata": {"cluster": "c", "containerInstance": "arn:ci", "fin": true,
                             "idle": true, "messageId": "m1"},
                "timestamp": 1796591162.04}}])
        );
    }

    #[test]
    fn tasks_are_cut_by_ten_with_fin_on_the_last_only() {
        let m = metrics_requests(
            SENDER,
            false,
            (0..25).map(|n| task(n, 1)).collect(),
            SystemTime::now(),
        );
        let p = parts(&m);
        let counts: Vec<(usize, bool)> = p.iter().map(|(n, fin, _)| (*n, *fin)).collect();
        assert_eq!(counts, [(10, false), (10, false), (5, true)]);
        assert!(p.iter().all(|(_, _, id)| id == "m1"));
        let ten = metrics_requests(
            SENDER,
            false,
            (0..10).map(|n| task(n, 1)).collect(),
            SystemTime::now(),
        );
        assert_eq!(
            parts(&ten).iter().map(|p| (p.0, p.1)).collect::<Vec<_>>(),
            [(10, true)]
        );
    }

    #[test]
    fn no_request_exceeds_the_size_limit_unless_one_task_alone_does() {
        // Each task about 300 KiB: three fit in 1 MiB, a fourth does not.
        let big = 300 * 1024;
        let m = metrics_requests(
            SENDER,
            false,
            (0..7).map(|n| task(n, big)).collect(),
            SystemTime::now(),
        );
        let counts: Vec<(usize, bool)> = parts(&m).iter().map(|p| (p.0, p.1)).collect();
        assert_eq!(counts, [(3, false), (3, false), (1, true)]);
        for message in &m {
            assert!(message.encode().unwrap().len() <= MESSAGE_SIZE_LIMIT);
        }
        let huge = metrics_requests(
            SENDER,
            false,
            vec![task(0, 2 * MESSAGE_SIZE_LIMIT), task(1, 1)],
            SystemTime::now(),
        );
        assert_eq!(
            parts(&huge).iter().map(|p| (p.0, p.1)).collect::<Vec<_>>(),
            [(1, false), (1, true)]
        );
    }
}
