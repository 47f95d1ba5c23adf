//! Share groups (KIP-932) through the wire, as raw requests: a member acquiring records with
//! ShareFetch, the share-session epochs, acknowledgements refused with Kafka's errors and
//! nothing changed (records not acquired, another member's records, never-delivered offsets,
//! unknown types, acknowledgements on an opening fetch), stale heartbeat epochs, the group
//! config `share.auto.offset.reset`, and acknowledged state surviving a restart.

mod common;

use common::produce::{batch, create_topic, produce};
use common::{TestBroker, TestClient};
use protocol::generated::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use protocol::generated::share_acknowledge_request::{
    AcknowledgePartition, AcknowledgeTopic, AcknowledgementBatch as AckBatch,
};
use protocol::generated::share_fetch_request::{AcknowledgementBatch, FetchPartition, FetchTopic};
use protocol::generated::{
    IncrementalAlterConfigsRequest, ShareAcknowledgeRequest, ShareFetchRequest, ShareFetchResponse,
    ShareGroupHeartbeatRequest,
};
use protocol::{ErrorCode, ResponseBody, Uuid};

const TOPIC: &str = "work";
const GROUP: &str = "workers";

fn code(raw: i16) -> ErrorCode {
    ErrorCode::from_code(raw).expect("a known error code")
}

async fn setup(broker: &TestBroker, records: i32) -> Uuid {
    create_topic(broker, TOPIC, 1, &[]).await;
    let mut client = broker.client().await;
    let records = batch(records, common::produce::now_ms()).build().unwrap();
    let answer = produce(&mut client, 9, TOPIC, 0, -1, records).await;
    assert_eq!(answer.error_code, 0);
    set_earliest(&mut client).await;
    broker
        .broker()
        .metadata
        .topic(TOPIC)
        .expect("created")
        .uuid()
}

async fn set_earliest(client: &mut TestClient) {
    let request = IncrementalAlterConfigsRequest {
        resources: vec![AlterConfigsResource {
            resource_type: 32,
            resource_name: GROUP.into(),
            configs: vec![AlterableConfig {
                name: "share.auto.offset.reset".into(),
                config_operation: 0,
                value: Some("earliest".into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let ResponseBody::IncrementalAlterConfigs(response) = client.send(1, request).await else {
        panic!("not an IncrementalAlterConfigs response");
    };
    assert_eq!(response.responses[0].error_code, 0, "{response:?}");
}

fn fetch(
    member: &str,
    epoch: i32,
    topic_id: Uuid,
    acks: Vec<AcknowledgementBatch>,
    max_records: i32,
) -> ShareFetchRequest {
    ShareFetchRequest {
        group_id: Some(GROUP.into()),
        member_id: Some(member.into()),
        share_session_epoch: epoch,
        max_wait_ms: 500,
        max_bytes: 1 << 20,
        max_records,
        batch_size: max_records,
        share_acquire_mode: 1,
        topics: vec![FetchTopic {
            topic_id,
            partitions: vec![FetchPartition {
                partition_index: 0,
                acknowledgement_batches: acks,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn ack(first: i64, last: i64, kind: i8) -> AcknowledgementBatch {
    AcknowledgementBatch {
        first_offset: first,
        last_offset: last,
        acknowledge_types: vec![kind],
        ..Default::default()
    }
}

async fn share_fetch(client: &mut TestClient, request: ShareFetchRequest) -> ShareFetchResponse {
    match client.send(2, request).await {
        ResponseBody::ShareFetch(response) => response,
        other => panic!("not a ShareFetch response: {other:?}"),
    }
}

/// (first, last, delivery count) of what a response acquired, and its acknowledge error.
fn acquired(response: &ShareFetchResponse) -> (Vec<(i64, i64, i16)>, i16) {
    let Some(partition) = response
        .responses
        .first()
        .and_then(|t| t.partitions.first())
    else {
        return (Vec::new(), 0);
    };
    (
        partition
            .acquired_records
            .iter()
            .map(|a| (a.first_offset, a.last_offset, a.delivery_count))
            .collect(),
        partition.acknowledge_error_code,
    )
}

async fn acknowledge(
    client: &mut TestClient,
    member: &str,
    epoch: i32,
    topic_id: Uuid,
    first: i64,
    last: i64,
    kind: i8,
) -> (i16, i16) {
    let request = ShareAcknowledgeRequest {
        group_id: Some(GROUP.into()),
        member_id: Some(member.into()),
        share_session_epoch: epoch,
        topics: vec![AcknowledgeTopic {
            topic_id,
            partitions: vec![AcknowledgePartition {
                partition_index: 0,
                acknowledgement_batches: vec![AckBatch {
                    first_offset: first,
                    last_offset: last,
                    acknowledge_types: vec![kind],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    match client.send(2, request).await {
        ResponseBody::ShareAcknowledge(r) => (
            r.error_code,
            r.responses
                .first()
                .and_then(|t| t.partitions.first())
                .map_or(0, |p| p.error_code),
        ),
        other => panic!("not a ShareAcknowledge response: {other:?}"),
    }
}

#[tokio::test]
async fn bad_acknowledgements_get_kafkas_errors_and_change_nothing() {
    let broker = TestBroker::start(&[("share.coordinator.state.topic.num.partitions", "2")]).await;
    let topic_id = setup(&broker, 10).await;
    let (mut a, mut b) = (broker.client().await, broker.client().await);

    // Acknowledgements on the opening fetch are refused outright.
    let opening = share_fetch(&mut a, fetch("a", 0, topic_id, vec![ack(0, 0, 1)], 4)).await;
    assert_eq!(code(opening.error_code), ErrorCode::InvalidRequest);
    // a acquires 0..=3 (record-limit mode), b acquires 4..=9.
    let got = share_fetch(&mut a, fetch("a", 0, topic_id, vec![], 4)).await;
    assert_eq!(acquired(&got).0, vec![(0, 3, 1)]);
    let got = share_fetch(&mut b, fetch("b", 0, topic_id, vec![], 100)).await;
    assert_eq!(acquired(&got).0, vec![(4, 9, 1)]);

    // b may not acknowledge a's records; an offset never delivered is an invalid request; an
    // unknown type too. None of it changes anything.
    assert_eq!(
        acknowledge(&mut b, "b", 1, topic_id, 0, 3, 1).await,
        (0, ErrorCode::InvalidRecordState.code())
    );
    assert_eq!(
        acknowledge(&mut b, "b", 2, topic_id, 9, 10, 1).await,
        (0, ErrorCode::InvalidRequest.code())
    );
    assert_eq!(
        acknowledge(&mut b, "b", 3, topic_id, 4, 4, 9).await,
        (0, ErrorCode::InvalidRequest.code())
    );
    // A wrong session epoch is refused as a whole; an unknown session too.
    assert_eq!(
        acknowledge(&mut b, "b", 9, topic_id, 4, 4, 1).await.0,
        ErrorCode::InvalidShareSessionEpoch.code()
    );
    assert_eq!(
        acknowledge(&mut b, "nobody", 1, topic_id, 4, 4, 1).await.0,
        ErrorCode::ShareSessionNotFound.code()
    );
    // a releases its records (piggybacked on a fetch) and they come back to it, delivered twice;
    // b's, still held, are not handed out again.
    let got = share_fetch(&mut a, fetch("a", 1, topic_id, vec![ack(0, 3, 2)], 100)).await;
    assert_eq!(acquired(&got), (vec![(0, 3, 2)], 0));
    // Acknowledging records it no longer holds (already accepted) is INVALID_RECORD_STATE.
    let got = share_fetch(&mut a, fetch("a", 2, topic_id, vec![ack(0, 3, 1)], 100)).await;
    assert_eq!(acquired(&got).1, 0);
    let got = share_fetch(&mut a, fetch("a", 3, topic_id, vec![ack(0, 3, 1)], 100)).await;
    assert_eq!(acquired(&got).1, ErrorCode::InvalidRecordState.code());
    broker.shutdown().await;
}

async fn send_heartbeat(
    client: &mut TestClient,
    request: ShareGroupHeartbeatRequest,
) -> protocol::generated::ShareGroupHeartbeatResponse {
    match client.send(1, request).await {
        ResponseBody::ShareGroupHeartbeat(r) => r,
        other => panic!("not a heartbeat response: {other:?}"),
    }
}

#[tokio::test]
async fn heartbeats_with_stale_epochs_are_fenced() {
    let broker = TestBroker::start(&[]).await;
    setup(&broker, 1).await;
    let mut client = broker.client().await;
    let heartbeat =
        |member: &str, epoch: i32, topics: Option<Vec<String>>| ShareGroupHeartbeatRequest {
            group_id: GROUP.into(),
            member_id: member.into(),
            member_epoch: epoch,
            subscribed_topic_names: topics,
            ..Default::default()
        };
    let joined = send_heartbeat(&mut client, heartbeat("m1", 0, Some(vec![TOPIC.into()]))).await;
    assert_eq!((joined.error_code, joined.member_epoch), (0, 1));
    let second = send_heartbeat(&mut client, heartbeat("m2", 0, Some(vec![TOPIC.into()]))).await;
    assert_eq!(second.member_epoch, 2);
    let stale = send_heartbeat(&mut client, heartbeat("m2", 1, None)).await;
    assert_eq!(code(stale.error_code), ErrorCode::FencedMemberEpoch);
    let long_id = "x".repeat(37);
    let invalid = send_heartbeat(
        &mut client,
        heartbeat(&long_id, 0, Some(vec![TOPIC.into()])),
    )
    .await;
    assert_eq!(code(invalid.error_code), ErrorCode::InvalidRequest);
    broker.shutdown().await;
}

#[tokio::test]
async fn accepted_records_stay_accepted_across_a_restart() {
    let broker = TestBroker::start(&[("share.coordinator.state.topic.num.partitions", "2")]).await;
    let topic_id = setup(&broker, 10).await;
    let mut a = broker.client().await;
    let got = share_fetch(&mut a, fetch("a", 0, topic_id, vec![], 100)).await;
    assert_eq!(acquired(&got).0, vec![(0, 9, 1)]);
    // Accept 0..=5, release 6, keep 7..=9 acquired.
    assert_eq!(acknowledge(&mut a, "a", 1, topic_id, 0, 5, 1).await, (0, 0));
    assert_eq!(acknowledge(&mut a, "a", 2, topic_id, 6, 6, 2).await, (0, 0));
    let broker = broker
        .restart_with(&[("share.coordinator.state.topic.num.partitions", "2")])
        .await;
    let mut b = broker.client().await;
    let got = share_fetch(&mut b, fetch("b", 0, topic_id, vec![], 100)).await;
    // 6 was released once (count 1), 7..=9 were held when the broker went away (their locks
    // die with it): all come back with one more delivery; none of 0..=5 does.
    assert_eq!(acquired(&got).0, vec![(6, 9, 2)]);
    broker.shutdown().await;
}
