//! Cluster membership across a three-node cluster in one process (as tests/cluster.rs):
//! DescribeQuorum from any broker (the active controller's view of the metadata quorum: a stopped
//! voter's log end offset stops while the others' go on), and UnregisterBroker retiring a
//! stopped broker (gone from DescribeCluster until it starts again and registers).

use std::time::Duration;

use crate::common::cluster::*;
use crate::expect_response;
use protocol::ErrorCode;
use protocol::generated::describe_quorum_request::{PartitionData, TopicData};
use protocol::generated::describe_quorum_response::PartitionData as QuorumPartition;
use protocol::generated::{
    DescribeClusterRequest, DescribeQuorumRequest, DescribeQuorumResponse, UnregisterBrokerRequest,
};

pub(crate) async fn describe(port: u16, topic: &str) -> DescribeQuorumResponse {
    let request = DescribeQuorumRequest {
        topics: vec![TopicData {
            topic_name: topic.into(),
            partitions: vec![PartitionData {
                partition_index: 0,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    expect_response!(client(port).await.send(2, request).await, DescribeQuorum)
}

fn quorum(response: &DescribeQuorumResponse) -> &QuorumPartition {
    assert_eq!(response.error_code, 0, "{response:?}");
    &response.topics[0].partitions[0]
}

/// Each voter's log end offset, by id.
fn ends(p: &QuorumPartition) -> Vec<(i32, i64)> {
    let mut ends: Vec<_> = p
        .current_voters
        .iter()
        .map(|v| (v.replica_id, v.log_end_offset))
        .collect();
    ends.sort_unstable();
    ends
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_broker_describes_the_quorum_and_a_stopped_voter_falls_behind() {
    let (ports, mut nodes) = start_cluster().await;
    let response = describe(nodes[1].client_port, "__cluster_metadata").await;
    let p = quorum(&response);
    assert!((1..=3).contains(&p.leader_id), "{p:?}");
    assert!(p.leader_epoch >= 1 && p.high_watermark > 0, "{p:?}");
    assert_eq!(
        ends(p).iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let nodes_listed: Vec<(i32, u16)> = response
        .nodes
        .iter()
        .map(|n| (n.node_id, n.listeners[0].port))
        .collect();
    let expected: Vec<(i32, u16)> = (1..=3).map(|id| (id, ports[(id - 1) as usize].1)).collect();
    assert_eq!(nodes_listed, expected, "each voter's controller listener");
    // Unknown partitions of the request are refused one by one.
    let other = describe(nodes[1].client_port, "other").await;
    assert_eq!(
        other.topics[0].partitions[0].error_code,
        ErrorCode::UnknownTopicOrPartition.code()
    );
    // A follower voter stops: its log end offset stays while the high watermark moves on.
    let leader = p.leader_id;
    let stopped = (1..=3).find(|id| *id != leader).unwrap();
    let stopped_at = ends(p)[(stopped - 1) as usize].1;
    nodes[(stopped - 1) as usize]
        .running
        .take()
        .unwrap()
        .shutdown()
        .await;
    let asked = nodes[(leader - 1) as usize].client_port;
    let mut admin = client(asked).await;
    crate::common::admin::create(
        &mut admin,
        vec![crate::common::admin::topic("grow", 1, 2)],
        false,
    )
    .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let response = describe(asked, "__cluster_metadata").await;
        let p = quorum(&response);
        let stopped_end = ends(p)[(stopped - 1) as usize].1;
        if p.high_watermark > stopped_end.max(stopped_at) {
            assert!(stopped_end <= p.high_watermark);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the high watermark never passed the stopped voter: {p:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for node in nodes {
        if let Some(running) = node.running {
            running.shutdown().await;
        }
    }
}

async fn unregister(port: u16, broker_id: i32) -> i16 {
    let request = UnregisterBrokerRequest {
        broker_id,
        ..Default::default()
    };
    expect_response!(client(port).await.send(0, request).await, UnregisterBroker).error_code
}

/// The broker ids DescribeCluster v2 lists, fenced ones included.
async fn registered(port: u16) -> Vec<i32> {
    let request = DescribeClusterRequest {
        include_fenced_brokers: true,
        endpoint_type: 1,
        ..Default::default()
    };
    let response = expect_response!(client(port).await.send(2, request).await, DescribeCluster);
    let mut ids: Vec<i32> = response.brokers.iter().map(|b| b.broker_id).collect();
    ids.sort_unstable();
    ids
}

async fn wait_registered(port: u16, expected: &[i32]) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let ids = registered(port).await;
        if ids == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "registered brokers {ids:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_broker_is_unregistered_until_it_starts_again() {
    let (ports, mut nodes) = start_cluster().await;
    let first = nodes[0].client_port;
    nodes[2].running.take().unwrap().shutdown().await;
    assert_eq!(
        registered(first).await,
        [1, 2, 3],
        "fenced, still registered"
    );
    assert_eq!(unregister(first, 3).await, 0);
    wait_registered(first, &[1, 2]).await;
    assert_eq!(
        unregister(first, 3).await,
        ErrorCode::BrokerIdNotRegistered.code()
    );
    // Back: it registers again.
    nodes[2].running = Some(start(3, &ports, nodes[2].dir.path()).await);
    wait_registered(first, &[1, 2, 3]).await;
    for node in nodes {
        if let Some(running) = node.running {
            running.shutdown().await;
        }
    }
}
