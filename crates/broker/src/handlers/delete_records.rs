//! DeleteRecords: moves a partition's log start offset forward (`kafka-delete-records`,
//! `AdminClient.deleteRecords`). Offset -1 means "up to the HighWatermark"; an offset past the
//! HighWatermark is OFFSET_OUT_OF_RANGE. As Kafka's DelayedDeleteRecords, the answer waits
//! (up to the request's `timeout_ms`, then REQUEST_TIMED_OUT) until every live replica's log
//! start has reached the new one, and its low watermark is the smallest of them: a replica that
//! may lead next no longer serves the deleted records. Whole segments below it are deleted by
//! the next retention pass (storage).

use std::sync::Arc;
use std::time::Duration;

use protocol::ErrorCode;
use protocol::generated::DeleteRecordsRequest;
use protocol::generated::DeleteRecordsResponse;
use protocol::generated::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::error::BrokerError;

/// The longest a DeleteRecords answer waits for the followers, whatever `timeout_ms` asks.
const DELETE_RECORDS_WAIT_MS_MAX: u64 = 300_000;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let timeout_ms = u64::try_from(request.timeout_ms)
        .unwrap_or(0)
        .min(DELETE_RECORDS_WAIT_MS_MAX);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms);
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        let allowed = broker.allows_topic(context, AclOperation::Delete, &topic.name);
        for wanted in topic.partitions {
            let index = wanted.partition_index;
            let result = if allowed {
                delete_records(broker, &topic.name, index, wanted.offset, deadline).await
            } else {
                Err(BrokerError::NotAuthorized(
                    ErrorCode::TopicAuthorizationFailed,
                ))
            };
            partitions.push(match result {
                Ok(low_watermark) => DeleteRecordsPartitionResult {
                    partition_index: index,
                    low_watermark,
                    error_code: 0,
                    ..Default::default()
                },
                Err(error) => {
                    tracing::debug!(topic = %topic.name, index, %error, "DeleteRecords refused");
                    DeleteRecordsPartitionResult {
                        partition_index: index,
                        low_watermark: -1,
                        error_code: error.error_code().code(),
                        ..Default::default()
                    }
                }
            });
        }
        topics.push(DeleteRecordsTopicResult {
            name: topic.name,
            partitions,
            ..Default::default()
        });
    }
    DeleteRecordsResponse {
        throttle_time_ms: 0,
        topics,
        ..Default::default()
    }
}

async fn delete_records(
    broker: &Broker,
    topic: &str,
    index: i32,
    offset: i64,
    deadline: tokio::time::Instant,
) -> Result<i64, BrokerError> {
    let partition = broker.replicas.partition(topic, index)?;
    partition.check_serving_leader()?;
    let log_start = partition.delete_records(offset).await?;
    partition.wait_for_low_watermark(log_start, deadline).await
}
