//! Partition reassignment across a three-node cluster (in one process, as tests/cluster.rs):
//! AlterPartitionReassignments moves a partition onto other nodes, which copy its log before the
//! old replica is dropped and deleted; ListPartitionReassignments shows the move in progress;
//! a cancel puts the original replicas back; bad targets get Kafka's errors and change nothing.

use std::time::Duration;

use crate::common::cluster::*;
use crate::expect_response;
use protocol::ErrorCode;
use protocol::generated::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use protocol::generated::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use protocol::generated::list_partition_reassignments_response::OngoingPartitionReassignment;
use protocol::generated::{
    AlterPartitionReassignmentsRequest, CreateTopicsRequest, ListPartitionReassignmentsRequest,
};

/// Creates `topic` with one partition on `replicas`.
async fn create_on(client: &mut crate::common::TestClient, topic: &str, replicas: &[i32]) {
    let request = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: topic.into(),
            num_partitions: -1,
            replication_factor: -1,
            assignments: vec![CreatableReplicaAssignment {
                partition_index: 0,
                broker_ids: replicas.to_vec(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        timeout_ms: 30_000,
        ..Default::default()
    };
    let response = expect_response!(client.send(7, request).await, CreateTopics);
    assert_eq!(response.topics[0].error_code, 0, "{response:?}");
}

/// Sends AlterPartitionReassignments `version` for partition 0 of `topic`; returns the
/// partition's error code.
async fn reassign(
    client: &mut crate::common::TestClient,
    version: i16,
    topic: &str,
    target: Option<Vec<i32>>,
    allow_replication_factor_change: bool,
) -> i16 {
    let request = AlterPartitionReassignmentsRequest {
        timeout_ms: 30_000,
        allow_replication_factor_change,
        topics: vec![ReassignableTopic {
            name: topic.into(),
            partitions: vec![ReassignablePartition {
                partition_index: 0,
                replicas: target,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let response = expect_response!(
        client.send(version, request).await,
        AlterPartitionReassignments
    );
    assert_eq!(response.error_code, 0, "{response:?}");
    response.responses[0].partitions[0].error_code
}

/// The reassignments in progress, of every topic.
async fn ongoing(
    client: &mut crate::common::TestClient,
) -> Vec<(String, OngoingPartitionReassignment)> {
    let request = ListPartitionReassignmentsRequest {
        timeout_ms: 30_000,
        topics: None,
        ..Default::default()
    };
    let response = expect_response!(client.send(0, request).await, ListPartitionReassignments);
    assert_eq!(response.error_code, 0, "{response:?}");
    response
        .topics
        .into_iter()
        .flat_map(|t| {
            let name = t.name;
            t.partitions.into_iter().map(move |p| (name.clone(), p))
        })
        .collect()
}

/// (replicas, leader, sorted ISR) of partition 0 of `topic` in `port`'s Metadata.
async fn replicas_of(port: u16, topic: &str) -> Option<(Vec<i32>, i32, Vec<i32>)> {
    let mut client = client(port).await;
    let response = metadata(&mut client).await;
    let t = response
        .topics
        .iter()
        .find(|t| t.name.as_deref() == Some(topic))?;
    let p = t.partitions.first()?;
    let mut isr = p.isr_nodes.clone();
    isr.sort_unstable();
    Some((p.replica_nodes.clone(), p.leader_id, isr))
}

async fn wait_replicas(
    port: u16,
    topic: &str,
    what: &str,
    done: impl Fn(&[i32], i32, &[i32]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let state = replicas_of(port, topic).await;
        if state
            .as_ref()
            .is_some_and(|(replicas, leader, isr)| done(replicas, *leader, isr))
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Produces `count` records to partition 0 of `topic` through its leader of the moment,
/// retrying retriable errors (the leader may change under the request).
async fn produce_to_leader(nodes: &[Node], topic: &str, count: i32) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let leader = replicas_of(nodes[0].client_port, topic).await.map(|s| s.1);
        if let Some(node) = leader.and_then(|l| nodes.iter().find(|n| n.id == l)) {
            let mut producer = client(node.client_port).await;
            let answer =
                crate::common::produce::produce(&mut producer, 9, topic, 0, -1, records(count))
                    .await;
            if answer.error_code == 0 {
                return;
            }
            assert!(
                [ErrorCode::NotLeaderOrFollower, ErrorCode::NotEnoughReplicas]
                    .iter()
                    .any(|e| e.code() == answer.error_code),
                "{answer:?}"
            );
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no leader took the records"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Goal: `kafka-reassign-partitions --execute` semantics. A partition on nodes {1, 2} holding
/// records moves to {2, 3}: node 3 copies the whole log, joins the ISR, the reassignment
/// completes with replicas [2, 3], node 1 stops hosting it and deletes its directory, and every
/// record is still there, written before and during the move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_moves_to_other_nodes_with_its_records() {
    let (_ports, nodes) = start_cluster().await;
    let first = nodes[0].client_port;
    let mut admin = client(first).await;
    create_on(&mut admin, "moving", &[1, 2]).await;
    wait_replicas(
        first,
        "moving",
        "moving-0 on 1 and 2 in sync",
        |r, l, isr| r == [1, 2] && l == 1 && isr == [1, 2],
    )
    .await;
    assert_eq!(
        produce_retrying(nodes[0].client_port, "moving", 40)
            .await
            .error_code,
        0
    );
    assert_eq!(
        reassign(&mut admin, 1, "moving", Some(vec![2, 3]), true).await,
        0
    );
    // Written while node 3 catches up (or just after), to whichever node leads.
    produce_to_leader(&nodes, "moving", 10).await;
    let written = 50;
    wait_replicas(
        first,
        "moving",
        "the reassignment to complete",
        |r, l, isr| r == [2, 3] && l == 2 && isr == [2, 3],
    )
    .await;
    assert!(ongoing(&mut admin).await.is_empty());
    wait_log_ends(&nodes[1..], "moving", 0, written).await;
    assert_eq!(log_end(&nodes[2], "moving", 0), Some(written));
    let deadline = tokio::time::Instant::now() + WAIT;
    while nodes[0].dir.path().join("moving-0").exists() || log_end(&nodes[0], "moving", 0).is_some()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "node 1 still hosts moving-0"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The new replicas take writes.
    assert_eq!(
        produce_retrying(nodes[1].client_port, "moving", 5)
            .await
            .error_code,
        0
    );
    wait_log_ends(&nodes[1..], "moving", 0, written + 5).await;
    for node in nodes {
        if let Some(running) = node.running {
            running.shutdown().await;
        }
    }
}

/// Goal: a reassignment that cannot complete (the added replica's node is down) is listed with
/// its adding and removing replicas, and a cancel puts the original replicas back and fences
/// the added one out; bad requests get Kafka's errors and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfinished_reassignment_is_listed_and_cancelled() {
    let (_ports, mut nodes) = start_cluster().await;
    let first = nodes[0].client_port;
    let mut admin = client(first).await;
    create_on(&mut admin, "stuck", &[1, 2]).await;
    wait_replicas(first, "stuck", "stuck-0 in sync", |r, _, isr| {
        r == [1, 2] && isr == [1, 2]
    })
    .await;
    // Refused, each with Kafka's code: the state stays as it was.
    let invalid = ErrorCode::InvalidReplicaAssignment.code();
    assert_eq!(
        reassign(&mut admin, 1, "stuck", Some(vec![]), true).await,
        invalid
    );
    assert_eq!(
        reassign(&mut admin, 1, "stuck", Some(vec![2, 2]), true).await,
        invalid
    );
    assert_eq!(
        reassign(&mut admin, 1, "stuck", Some(vec![2, 9]), true).await,
        invalid
    );
    assert_eq!(
        reassign(&mut admin, 1, "stuck", Some(vec![-1, 2]), true).await,
        invalid
    );
    assert_eq!(
        reassign(&mut admin, 1, "stuck", Some(vec![1, 2, 3]), false).await,
        ErrorCode::InvalidReplicationFactor.code()
    );
    assert_eq!(
        reassign(&mut admin, 1, "stuck", None, true).await,
        ErrorCode::NoReassignmentInProgress.code()
    );
    assert_eq!(
        reassign(&mut admin, 1, "no-such-topic", Some(vec![1]), true).await,
        ErrorCode::UnknownTopicOrPartition.code()
    );
    assert!(ongoing(&mut admin).await.is_empty());
    // Node 3 is stopped: a move onto it cannot complete.
    nodes[2].running.take().unwrap().shutdown().await;
    assert_eq!(
        reassign(&mut admin, 0, "stuck", Some(vec![1, 3]), true).await,
        0
    );
    let listed = ongoing(&mut admin).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let (topic, p) = &listed[0];
    assert_eq!(topic, "stuck");
    assert_eq!(
        (&p.replicas, &p.adding_replicas, &p.removing_replicas),
        (&vec![1, 3, 2], &vec![3], &vec![2])
    );
    wait_replicas(first, "stuck", "the merged replica list", |r, _, isr| {
        r == [1, 3, 2] && isr == [1, 2]
    })
    .await;
    assert_eq!(reassign(&mut admin, 1, "stuck", None, true).await, 0);
    wait_replicas(first, "stuck", "the original replicas back", |r, _, isr| {
        r == [1, 2] && isr == [1, 2]
    })
    .await;
    assert!(ongoing(&mut admin).await.is_empty());
    for node in nodes {
        if let Some(running) = node.running {
            running.shutdown().await;
        }
    }
}
