//! Fetch from the closest replica (KIP-392) across a three-node cluster in one process (as
//! tests/cluster.rs), nodes in racks r1, r2, r3 with the rack-aware replica selector: the
//! leader sends a consumer in another rack to the follower there, the follower serves it, and
//! once that follower is down and out of the ISR the leader serves the consumer itself.

use std::time::Duration;

use crate::common::cluster::*;
use protocol::codec::Records;
use protocol::generated::fetch_response::PartitionData;

/// A consumer's Fetch v12 of `topic`-0 from offset 0, naming `rack`.
async fn fetch(port: u16, topic: &str, rack: &str) -> PartitionData {
    consumer_fetch(port, topic, 0, 12, rack).await
}

fn has_records(data: &PartitionData) -> bool {
    matches!(&data.records, Some(Records::Bytes(bytes)) if !bytes.is_empty())
}

/// Polls `fetch` until `check` holds, for at most [`WAIT`].
async fn wait_fetch(port: u16, rack: &str, what: &str, check: impl Fn(&PartitionData) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let data = fetch(port, "near", rack).await;
        if check(&data) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {data:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_reads_from_the_follower_in_its_rack_and_from_the_leader_once_it_is_gone() {
    let (_ports, mut nodes) = start_cluster_with(&|id, _| {
        vec![
            ("broker.rack".to_string(), format!("r{id}")),
            (
                "replica.selector.class".to_string(),
                "org.apache.kafka.common.replica.RackAwareReplicaSelector".to_string(),
            ),
        ]
    })
    .await;
    let first = nodes[0].client_port;
    let mut admin = client(first).await;
    crate::common::admin::create(
        &mut admin,
        vec![crate::common::admin::topic("near", 1, 3)],
        false,
    )
    .await;
    let full = vec![1, 2, 3];
    let (leader, _) = wait_metadata(first, "near-0 with a full ISR", |m| {
        partition_state(m, "near", 0).filter(|(l, isr)| *l >= 0 && *isr == full)
    })
    .await;
    let leader_port = nodes[(leader - 1) as usize].client_port;
    assert_eq!(
        produce_retrying(leader_port, "near", 10).await.error_code,
        0
    );
    wait_log_ends(&nodes, "near", 0, 10).await;
    let follower = nodes.iter().find(|n| n.id != leader).unwrap().id;
    let rack = format!("r{follower}");
    // The leader names the follower in the consumer's rack once it holds the offset in sync.
    wait_fetch(leader_port, &rack, "the leader to name the follower", |d| {
        d.preferred_read_replica == follower && !has_records(d)
    })
    .await;
    // A consumer in the leader's rack, or without a rack, reads from the leader.
    let own = fetch(leader_port, "near", &format!("r{leader}")).await;
    assert_eq!(own.preferred_read_replica, -1);
    assert!(has_records(&own));
    assert!(has_records(&fetch(leader_port, "near", "").await));
    // The follower serves the consumer up to its high watermark.
    let follower_port = nodes[(follower - 1) as usize].client_port;
    wait_fetch(
        follower_port,
        &rack,
        "the follower to serve the records",
        |d| d.error_code == 0 && has_records(d) && d.high_watermark == 10,
    )
    .await;
    // The follower goes down: once it is out of the ISR the leader serves that rack itself.
    let index = (follower - 1) as usize;
    nodes[index].running.take().unwrap().shutdown().await;
    wait_fetch(
        leader_port,
        &rack,
        "the leader to serve the rack itself",
        |d| d.preferred_read_replica == -1 && has_records(d),
    )
    .await;
    for node in nodes {
        if let Some(running) = node.running {
            running.shutdown().await;
        }
    }
}
