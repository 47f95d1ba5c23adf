//! AddPartitionsToTxn (v0-5): partitions join a producer's transaction before it writes to
//! them (transactions v1). v0-3 come from producers, one transaction per request; v4+ come
//! from partition leaders (KIP-890 part 1), several transactions per request, each either
//! added or, with `verify_only`, checked (is the partition in the ongoing transaction?); from a
//! client they get CLUSTER_AUTHORIZATION_FAILED (`Broker::allows_inter_broker`).
//!
//! Authorization for v0-3: WRITE on the transactional id (else every partition
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and WRITE on each topic; internal topics are never
//! writable here.
//!
//! As Kafka answers: a partition of an unknown topic gets UNKNOWN_TOPIC_OR_PARTITION and the
//! request's other partitions OPERATION_NOT_ATTEMPTED; otherwise every partition of a
//! transaction gets the coordinator's one code.

use std::collections::BTreeMap;
use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use protocol::generated::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use protocol::generated::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};

use security::acl::AclOperation;

use super::RequestContext;
use super::txn_errors::{for_version, producer};
use crate::broker::Broker;
use crate::txn_coordinator::TxnCoordinatorService;

/// The first version sent by brokers (batched, verify-only).
const BROKER_VERSION: i16 = 4;
/// Most partitions one request may name (a request is bounded by the frame size; this bounds
/// the work per request further).
const PARTITIONS_MAX: usize = 10_000;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let version = context.api_version;
    if version < BROKER_VERSION {
        let asked = producer(
            request.v3_and_below_producer_id,
            request.v3_and_below_producer_epoch,
        );
        let id = &request.v3_and_below_transactional_id;
        let topics = &request.v3_and_below_topics;
        let results = if broker.allows_transactional_id(context, AclOperation::Write, id) {
            // Internal topics are never writable here.
            let writable = |topic: &str| {
                !topic.starts_with("__") && broker.allows_topic(context, AclOperation::Write, topic)
            };
            one_transaction(broker, id, asked, topics, false, &writable).await
        } else {
            every_partition(topics, ErrorCode::TransactionalIdAuthorizationFailed)
        };
        return AddPartitionsToTxnResponse {
            results_by_topic_v3_and_below: topic_results(results, |code| {
                for_version(code, version, 2, i16::MAX)
            }),
            ..Default::default()
        };
    }
    if !broker.allows_inter_broker(context) {
        // v4+ is the brokers' form (Kafka authorizes it as CLUSTER_ACTION).
        return AddPartitionsToTxnResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed.code(),
            ..Default::default()
        };
    }
    let partitions: usize = request
        .transactions
        .iter()
        .flat_map(|t| &t.topics)
        .map(|t| t.partitions.len())
        .sum();
    if partitions > PARTITIONS_MAX {
        return AddPartitionsToTxnResponse {
            error_code: ErrorCode::InvalidRequest.code(),
            ..Default::default()
        };
    }
    let mut results_by_transaction = Vec::with_capacity(request.transactions.len());
    for transaction in request.transactions {
        let asked = producer(transaction.producer_id, transaction.producer_epoch);
        let results = one_transaction(
            broker,
            &transaction.transactional_id,
            asked,
            &transaction.topics,
            transaction.verify_only,
            &|_| true,
        )
        .await;
        results_by_transaction.push(AddPartitionsToTxnResult {
            transactional_id: transaction.transactional_id,
            topic_results: topic_results(results, |code| code),
            ..Default::default()
        });
    }
    AddPartitionsToTxnResponse {
        results_by_transaction,
        ..Default::default()
    }
}

/// Every partition named, with `code`.
fn every_partition(
    topics: &[AddPartitionsToTxnTopic],
    code: ErrorCode,
) -> Vec<((String, i32), ErrorCode)> {
    topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| ((t.name.clone(), *p), code)))
        .collect()
}

/// Every partition of one transaction with its code. A topic that is not `writable` gets
/// TOPIC_AUTHORIZATION_FAILED (checked before existence), an unknown partition
/// UNKNOWN_TOPIC_OR_PARTITION, and then the others OPERATION_NOT_ATTEMPTED.
async fn one_transaction(
    broker: &Arc<Broker>,
    transactional_id: &str,
    asked: coordinator::txn::ProducerIdAndEpoch,
    topics: &[AddPartitionsToTxnTopic],
    verify_only: bool,
    writable: &(dyn Fn(&str) -> bool + Sync),
) -> Vec<((String, i32), ErrorCode)> {
    let partitions: Vec<(String, i32)> = topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), *p)))
        .collect();
    let refusal = |(topic, partition): &(String, i32)| {
        if !writable(topic) {
            return Some(ErrorCode::TopicAuthorizationFailed);
        }
        let known = broker
            .metadata
            .topic(topic)
            .is_some_and(|t| (0..t.partitions).contains(partition));
        (!known).then_some(ErrorCode::UnknownTopicOrPartition)
    };
    if partitions.iter().any(|p| refusal(p).is_some()) {
        return partitions
            .into_iter()
            .map(|p| {
                let code = refusal(&p).unwrap_or(ErrorCode::OperationNotAttempted);
                (p, code)
            })
            .collect();
    }
    let id = transactional_id.to_string();
    let wanted = partitions.clone();
    let codes: Result<Vec<ErrorCode>, _> = if verify_only {
        match TxnCoordinatorService::partition_for(broker, transactional_id).await {
            Ok(txn_partition) => {
                TxnCoordinatorService::read_partition(broker, txn_partition, move |c, _| {
                    c.verify_partitions(&id, asked, &wanted)
                })
                .await
            }
            Err(error) => Err(error),
        }
    } else {
        TxnCoordinatorService::call(broker, transactional_id, move |c, now| {
            let (result, effects) = c.add_partitions(&id, asked, &wanted, now);
            let code = result.err().unwrap_or(ErrorCode::None);
            (vec![code; wanted.len()], effects)
        })
        .await
    };
    let codes = codes.unwrap_or_else(|error| vec![error.error_code(); partitions.len()]);
    partitions.into_iter().zip(codes).collect()
}

fn topic_results(
    results: Vec<((String, i32), ErrorCode)>,
    convert: impl Fn(ErrorCode) -> ErrorCode,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut by_topic: BTreeMap<String, Vec<AddPartitionsToTxnPartitionResult>> = BTreeMap::new();
    for ((topic, partition_index), code) in results {
        by_topic
            .entry(topic)
            .or_default()
            .push(AddPartitionsToTxnPartitionResult {
                partition_index,
                partition_error_code: convert(code).code(),
                ..Default::default()
            });
    }
    by_topic
        .into_iter()
        .map(
            |(name, results_by_partition)| AddPartitionsToTxnTopicResult {
                name,
                results_by_partition,
                ..Default::default()
            },
        )
        .collect()
}
