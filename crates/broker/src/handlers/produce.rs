//! Produce: validates each partition's batch (see `log_validator`), appends it to the
//! partition's log as leader and answers with its base offset, or with the partition's error.
//!
//! Versions: advertised from v0 (librdkafka disables compression when Produce's minimum is
//! above 0, KAFKA-18659) but served from v3, the first with magic-v2 batches; v0-2 get
//! UNSUPPORTED_VERSION for every partition. v13 names topics by id (UNKNOWN_TOPIC_ID when the
//! id is not known); v12 differs from v11 only for transactional producers (KIP-890). acks must be 0, 1 or -1 (else INVALID_REQUIRED_ACKS
//! for every partition). acks=-1 fails with NOT_ENOUGH_REPLICAS when the ISR is smaller than
//! `min.insync.replicas`; on a single node it completes when the append returns (after the
//! fsync when the topic's flush policy asks for one), in a replicated cluster once the high
//! watermark passes the batch (every ISR member has it), else REQUEST_TIMED_OUT at the
//! request's timeout, or NOT_LEADER_OR_FOLLOWER if leadership moves meanwhile. acks=0 gets no
//! response at all (the dispatch drops it).
//!
//! Zero copy: the records `Bytes` is taken out of the request and turned into `BytesMut` with
//! `Bytes::try_into_mut` (it is the only reference once the frame's other parts are dropped),
//! so the base offset, leader epoch and LogAppendTime are patched in place; when the buffer is
//! shared (several partitions in one frame) the batch is copied once.
//!
//! Transactions: a transactional batch from a producer whose transaction is not yet open on
//! the partition is checked with the transaction coordinator first (KIP-890 part 1: is the
//! partition in the ongoing transaction?); from v12 (transactions v2, part 2) the partition is
//! added to the transaction instead. The coordinator's refusals are converted as Kafka does:
//! retriable coordinator states become NOT_ENOUGH_REPLICAS, PRODUCER_FENCED becomes
//! INVALID_PRODUCER_EPOCH, TRANSACTION_ABORTABLE before v11 INVALID_TXN_STATE.
//!
//! Authorization: WRITE on each topic (TOPIC_AUTHORIZATION_FAILED on its partitions), and for
//! transactional records WRITE on the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED
//! on every partition). An idempotent producer needs nothing more here (InitProducerId checks).
//!
//! Not here: auto-creation of
//! topics (Kafka does not create topics on Produce; Metadata does), recompression to the
//! topic's `compression.type`.
//!
//! Quotas: the request's size counts against the client's `producer_byte_rate`; over it, the
//! answer carries `throttle_time_ms` and the connection is muted that long (KIP-219,
//! `client_quotas.rs`).

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use coordinator::txn::ProducerIdAndEpoch;
use protocol::ErrorCode;
use protocol::codec::Records;
use protocol::generated::ProduceRequest;
use protocol::generated::ProduceResponse;
use protocol::generated::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use protocol::records::RecordBatchHeader;
use storage::LogAppendInfo;

use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::client_quotas::QuotaKind;
use crate::error::BrokerError;
use crate::log_validator::{self, Rules};
use crate::partitions::Partition;

/// The first produce version this broker appends (magic-v2 batches).
pub const PRODUCE_VERSION_MIN_SERVED: i16 = 3;
/// The first produce version that names topics by id (Kafka 4.4).
const PRODUCE_VERSION_TOPIC_IDS: i16 = 13;
/// Kafka's client id that may write to internal topics (`AdminUtils.ADMIN_CLIENT_ID`).
const ADMIN_CLIENT_ID: &str = "__admin_client";
const INTERNAL_TOPICS: &[&str] = &["__consumer_offsets", "__transaction_state"];
/// The first version of transactions v2: partitions join the transaction on their first write.
const TRANSACTIONS_V2_VERSION: i16 = 12;
/// The first version that knows TRANSACTION_ABORTABLE (KIP-890).
const TRANSACTION_ABORTABLE_VERSION: i16 = 11;

/// What a successful append reports.
struct Appended {
    info: LogAppendInfo,
    log_append_time_ms: i64,
    /// The partition, for acks=all to wait on its high watermark.
    partition: Arc<Partition>,
}

/// Handles a produce request. With acks=0 the response is built all the same and dropped by the
/// dispatch (`handlers::handle`).
pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    mut request: ProduceRequest,
) -> ProduceResponse {
    let version = context.api_version;
    let acks = request.acks;
    let deadline = tokio::time::Instant::now()
        + std::time::Duration::from_millis(u64::try_from(request.timeout_ms).unwrap_or(0));
    // First every partition is appended, then (acks=all in a cluster) each is awaited: the
    // followers fetch all partitions in one request, so the waits overlap and a request costs one
    // follower round trip however many partitions it carries.
    let mut appended = Vec::with_capacity(request.topic_data.len());
    // Transactional records need WRITE on their transactional id, or no partition is written.
    let transactional_id_denied = broker.authorization_enabled()
        && has_transactional_records(&request)
        && !request
            .transactional_id
            .as_deref()
            .is_some_and(|id| broker.allows_transactional_id(context, AclOperation::Write, id));
    for topic in &mut request.topic_data {
        // v13+ names the topic by id only (Kafka's UNKNOWN_TOPIC_ID when it is not known).
        let name = if version >= PRODUCE_VERSION_TOPIC_IDS {
            broker
                .metadata
                .topic_name(topic.topic_id)
                .ok_or(topic.topic_id)
        } else {
            Ok(std::mem::take(&mut topic.name))
        };
        let topic_denied =
            matches!(&name, Ok(name) if !broker.allows_topic(context, AclOperation::Write, name));
        let mut results = Vec::with_capacity(topic.partition_data.len());
        for data in &mut topic.partition_data {
            let records = data.records.take();
            let result = if transactional_id_denied {
                Err(BrokerError::NotAuthorized(
                    ErrorCode::TransactionalIdAuthorizationFailed,
                ))
            } else if topic_denied {
                Err(BrokerError::NotAuthorized(
                    ErrorCode::TopicAuthorizationFailed,
                ))
            } else if version < PRODUCE_VERSION_MIN_SERVED {
                Err(BrokerError::Unsupported(format!(
                    "produce v{version}: magic v0/v1 message sets are not supported, use v3+"
                )))
            } else if !(-1..=1).contains(&acks) {
                Err(BrokerError::InvalidRequiredAcks(acks))
            } else {
                match &name {
                    Ok(name) => {
                        let target = Target {
                            topic: name,
                            index: data.index,
                            transactional_id: request.transactional_id.as_deref(),
                        };
                        produce_partition(broker, context, target, records, acks).await
                    }
                    Err(id) => Err(BrokerError::UnknownTopicId(*id)),
                }
            };
            results.push((data.index, result));
        }
        appended.push((name, topic.topic_id, results));
    }
    let wait_for_isr = acks == -1 && broker.config.is_clustered();
    let mut responses = Vec::with_capacity(appended.len());
    for (name, topic_id, results) in appended {
        let mut partition_responses = Vec::with_capacity(results.len());
        for (index, result) in results {
            // acks=all in a cluster: answered once the ISR has the batch (or the timeout).
            let result = match result {
                Ok(appended) if wait_for_isr => appended
                    .partition
                    .wait_for_high_watermark(appended.info.last_offset, deadline)
                    .await
                    .map(|()| appended),
                other => other,
            };
            partition_responses.push(partition_response(index, result));
        }
        responses.push(TopicProduceResponse {
            name: name.unwrap_or_default(),
            topic_id,
            partition_responses,
            ..Default::default()
        });
    }
    // The producer byte-rate quota counts the whole request (Kafka's `request.sizeInBytes`);
    // the records are kept either way, the client is only slowed down.
    let throttle_ms = broker.client_quotas.record(
        &broker.metadata,
        QuotaKind::Produce,
        context,
        context.request_bytes,
    );
    context.throttle(throttle_ms);
    ProduceResponse {
        responses,
        throttle_time_ms: i32::try_from(throttle_ms).unwrap_or(i32::MAX),
        ..Default::default()
    }
}

/// Whether any batch of the request is transactional (Kafka's
/// `RequestUtils.hasTransactionalRecords`, which reads the first batch of each partition).
fn has_transactional_records(request: &ProduceRequest) -> bool {
    request
        .topic_data
        .iter()
        .flat_map(|topic| &topic.partition_data)
        .any(|data| match &data.records {
            Some(Records::Bytes(bytes)) => {
                RecordBatchHeader::parse(bytes).is_ok_and(|h| h.is_transactional())
            }
            _ => false,
        })
}

/// The partition a produce request writes to, and its transactional id.
struct Target<'a> {
    topic: &'a str,
    index: i32,
    transactional_id: Option<&'a str>,
}

async fn produce_partition(
    broker: &Arc<Broker>,
    context: &RequestContext,
    target: Target<'_>,
    records: Option<Records>,
    acks: i16,
) -> Result<Appended, BrokerError> {
    let (topic, index) = (target.topic, target.index);
    if INTERNAL_TOPICS.contains(&topic) && context.client_id() != ADMIN_CLIENT_ID {
        return Err(BrokerError::InvalidTopic {
            name: topic.to_string(),
            reason: "cannot append to an internal topic",
        });
    }
    let partition = broker.replicas.partition(topic, index)?;
    let config = partition.config();
    partition.check_serving_leader()?;
    // The ISR of a single node is this replica alone.
    let in_sync = partition.leader_state().map_or(0, |state| {
        i32::try_from(state.isr.len()).unwrap_or(i32::MAX)
    });
    if acks == -1 && in_sync < config.min_insync_replicas {
        return Err(BrokerError::NotEnoughReplicas {
            required: config.min_insync_replicas,
            in_sync,
        });
    }
    let records = match records {
        Some(Records::Bytes(bytes)) => bytes,
        None => Bytes::new(),
        Some(Records::File(_)) => {
            return Err(BrokerError::InvalidRequest(
                "produce records must be in the request".into(),
            ));
        }
    };
    let now_ms = broker.now_ms();
    log_validator::validate(
        &records,
        &Rules {
            api_version: context.api_version,
            now_ms,
            config: &config,
        },
    )?;
    let header = RecordBatchHeader::parse(&records).map_err(BrokerError::CorruptMessage)?;
    if header.is_transactional() && target.transactional_id.is_none() {
        // Kafka refuses transactional records without a transactional id to authorize.
        return Err(BrokerError::refused(
            ErrorCode::TransactionalIdAuthorizationFailed,
        ));
    }
    let mut verified_producer = None;
    if header.is_transactional()
        && let Some(transactional_id) = target.transactional_id
        && !partition.in_transaction(header.producer_id(), header.producer_epoch())?
    {
        let producer = ProducerIdAndEpoch {
            producer_id: header.producer_id(),
            producer_epoch: header.producer_epoch(),
        };
        let add = context.api_version >= TRANSACTIONS_V2_VERSION;
        let sequence = header.base_sequence();
        partition.start_verification(producer.producer_id, producer.producer_epoch, sequence);
        crate::txn_verification::verify(broker, transactional_id, producer, topic, index, add)
            .await
            .map_err(|error| verification_error(error, context.api_version))?;
        partition.check_verified_sequence(
            producer.producer_id,
            producer.producer_epoch,
            sequence,
        )?;
        verified_producer = Some(producer.producer_id);
    }
    let mut batch: BytesMut = records
        .try_into_mut()
        .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
    let log_append_time_ms = if config.log_append_time {
        protocol::records::set_log_append_time(&mut batch, now_ms);
        now_ms
    } else {
        -1
    };
    let info = partition.append_records_as_leader(batch).await?;
    if let Some(producer_id) = verified_producer {
        partition.end_verification(producer_id);
    }
    Ok(Appended {
        info,
        log_append_time_ms,
        partition,
    })
}

/// A refused verification as a producer of `version` understands it (Kafka's conversions).
fn verification_error(error: BrokerError, version: i16) -> BrokerError {
    let code = match error.error_code() {
        ErrorCode::NotCoordinator
        | ErrorCode::CoordinatorNotAvailable
        | ErrorCode::CoordinatorLoadInProgress
        | ErrorCode::ConcurrentTransactions => ErrorCode::NotEnoughReplicas,
        ErrorCode::ProducerFenced => ErrorCode::InvalidProducerEpoch,
        ErrorCode::TransactionAbortable if version < TRANSACTION_ABORTABLE_VERSION => {
            ErrorCode::InvalidTxnState
        }
        code => code,
    };
    BrokerError::TransactionRefused {
        code,
        reason: Some(error.to_string()),
    }
}

fn partition_response(
    index: i32,
    result: Result<Appended, BrokerError>,
) -> PartitionProduceResponse {
    match result {
        Ok(appended) => PartitionProduceResponse {
            index,
            error_code: 0,
            base_offset: appended.info.first_offset,
            log_append_time_ms: appended.log_append_time_ms,
            log_start_offset: appended.info.log_start_offset,
            ..Default::default()
        },
        Err(error) => {
            tracing::debug!(index, %error, "produce refused");
            PartitionProduceResponse {
                index,
                error_code: error.error_code().code(),
                base_offset: -1,
                log_append_time_ms: -1,
                log_start_offset: -1,
                record_errors: error
                    .record_errors()
                    .iter()
                    .map(|e| BatchIndexAndErrorMessage {
                        batch_index: e.batch_index,
                        batch_index_error_message: Some(e.message.clone()),
                        ..Default::default()
                    })
                    .collect(),
                error_message: error.message(),
                ..Default::default()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::RequestBody;
    use protocol::generated::RequestHeader;
    use protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};

    /// The records of a one-partition produce request, taken out of the decoded request, are
    /// the only reference to their part of the frame: `try_into_mut` succeeds without a copy.
    #[test]
    fn records_of_a_decoded_frame_become_mutable_without_a_copy() {
        let records = Bytes::from(vec![7u8; 4096]);
        let request = ProduceRequest {
            acks: 1,
            topic_data: vec![TopicProduceData {
                name: "t".into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(Records::Bytes(records)),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let header = RequestHeader {
            request_api_key: 0,
            request_api_version: 9,
            correlation_id: 1,
            client_id: Some("c".into()),
            ..Default::default()
        };
        let frame = protocol::encode_request(&header, &RequestBody::Produce(request)).unwrap();
        let RequestBody::Produce(mut request) = protocol::decode_request(frame).unwrap().body
        else {
            panic!("a produce request");
        };
        let Some(Records::Bytes(bytes)) = request.topic_data[0].partition_data[0].records.take()
        else {
            panic!("records");
        };
        drop(request);
        let address = bytes.as_ptr();
        let mutable = bytes
            .try_into_mut()
            .expect("the only reference to the records");
        assert_eq!(mutable.as_ptr(), address, "same buffer, no copy");
        assert_eq!(mutable.len(), 4096);
    }
}
