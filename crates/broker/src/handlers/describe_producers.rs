//! DescribeProducers (v0): the producers a partition leader tracks, with their epoch, last
//! sequence and timestamp, coordinator epoch and open transaction's first offset
//! (`kafka-transactions.sh describe-producers`, `find-hanging`).

use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use protocol::generated::{DescribeProducersRequest, DescribeProducersResponse};
use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::error::BrokerError;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| TopicResponse {
            partitions: topic
                .partition_indexes
                .iter()
                .map(
                    |&index| match producers_if_allowed(broker, context, &topic.name, index) {
                        Ok(active_producers) => PartitionResponse {
                            partition_index: index,
                            active_producers,
                            ..Default::default()
                        },
                        Err(error) => PartitionResponse {
                            partition_index: index,
                            error_code: error.error_code().code(),
                            error_message: error.message(),
                            ..Default::default()
                        },
                    },
                )
                .collect(),
            name: topic.name,
            ..Default::default()
        })
        .collect();
    DescribeProducersResponse {
        throttle_time_ms: 0,
        topics,
        ..Default::default()
    }
}

/// The partition's producers, when the principal may READ the topic.
fn producers_if_allowed(
    broker: &Broker,
    context: &RequestContext,
    topic: &str,
    index: i32,
) -> Result<Vec<ProducerState>, BrokerError> {
    if !broker.allows_topic(context, AclOperation::Read, topic) {
        return Err(BrokerError::NotAuthorized(
            ErrorCode::TopicAuthorizationFailed,
        ));
    }
    producers(broker, topic, index)
}

fn producers(broker: &Broker, topic: &str, index: i32) -> Result<Vec<ProducerState>, BrokerError> {
    let partition = broker.replicas.partition(topic, index)?;
    partition.check_serving_leader()?;
    Ok(partition
        .producer_states()?
        .into_iter()
        .map(|(producer_id, state)| ProducerState {
            producer_id,
            producer_epoch: i32::from(state.producer_epoch),
            last_sequence: state.batches.back().map_or(-1, |b| b.last_sequence),
            last_timestamp: state.last_timestamp,
            coordinator_epoch: state.coordinator_epoch,
            current_txn_start_offset: state.current_txn_first_offset.unwrap_or(-1),
            ..Default::default()
        })
        .collect())
}
