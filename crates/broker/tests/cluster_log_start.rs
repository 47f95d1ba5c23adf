//! Log start offsets across a three-node cluster (in one process, as tests/cluster.rs): what
//! DeleteRecords sets on the leader reaches every replica before it is answered, stays when
//! another replica leads, and a follower whose log ends before the leader's log start (an empty
//! disk after DeleteRecords or retention) starts over there and rejoins the ISR.

mod common;

use std::time::Duration;

use common::admin::{create, topic, with_config};
use common::cluster::*;

/// Creates `trimmed` (1 partition, RF 3, min ISR 2), writes 5 records and waits until every
/// replica has them. Returns the leader's id.
async fn trimmed_topic(nodes: &[Node]) -> i32 {
    let first = nodes[0].client_port;
    let mut admin = client(first).await;
    let trimmed = with_config(topic("trimmed", 1, 3), "min.insync.replicas", "2");
    create(&mut admin, vec![trimmed], false).await;
    let full = vec![1, 2, 3];
    let (leader, _) = wait_metadata(first, "trimmed-0 with a leader and a full ISR", |m| {
        partition_state(m, "trimmed", 0).filter(|(l, isr)| *l >= 0 && *isr == full)
    })
    .await;
    let leader_port = nodes[(leader - 1) as usize].client_port;
    assert_eq!(
        produce_retrying(leader_port, "trimmed", 5).await.error_code,
        0
    );
    wait_log_ends(nodes, "trimmed", 0, 5).await;
    leader
}

/// DeleteRecords on the leader's partition object, up to offset 3.
async fn delete_first_three(nodes: &[Node], leader: i32) {
    let on_leader = nodes[(leader - 1) as usize].running.as_ref().unwrap();
    let partition = on_leader.broker.replicas.get("trimmed", 0).unwrap();
    assert_eq!(partition.delete_records(3).await.unwrap(), 3);
}

/// Every running replica's log start offset of `trimmed-0` (None where it has none yet).
fn log_starts(nodes: &[Node]) -> Vec<Option<i64>> {
    nodes
        .iter()
        .map(|n| {
            let running = n.running.as_ref()?;
            running
                .broker
                .replicas
                .get("trimmed", 0)?
                .log_start_offset()
                .ok()
        })
        .collect()
}

/// Goal: a follower whose log ends before the leader's log start (a replica back with an empty
/// partition folder, after DeleteRecords or retention on the leader) starts over at the
/// leader's log start and rejoins the ISR. Found by the fault harness (F22 after F25): the
/// leader's OFFSET_OUT_OF_RANGE answer carried no log start, so the follower retried from 0
/// forever, and the pause after each failed round held back every partition it fetched from
/// that leader (they never reached the high watermark under load, so never rejoined the ISR).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_behind_the_leaders_log_start_starts_over_there() {
    let (ports, mut nodes) = start_cluster().await;
    let leader = trimmed_topic(&nodes).await;
    delete_first_three(&nodes, leader).await;
    // A follower loses its copy of the partition while stopped.
    let back = nodes.iter().position(|n| n.id != leader).unwrap();
    nodes[back].running.take().unwrap().shutdown().await;
    std::fs::remove_dir_all(nodes[back].dir.path().join("trimmed-0")).unwrap();
    let restarted = start(nodes[back].id, &ports, nodes[back].dir.path()).await;
    nodes[back].running = Some(restarted);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let span = nodes[back]
            .running
            .as_ref()
            .and_then(|r| r.broker.replicas.get("trimmed", 0))
            .map(|p| (p.log_start_offset().unwrap(), p.log_end_offset().unwrap()));
        if span == Some((3, 5)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the restarted follower's log spans {span:?}, expected 3..5"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let full = vec![1, 2, 3];
    wait_metadata(
        nodes[0].client_port,
        "trimmed-0 with the follower back in the ISR",
        |m| partition_state(m, "trimmed", 0).filter(|(_, isr)| *isr == full),
    )
    .await;
    for node in nodes {
        if let Some(running) = node.running {
            running.shutdown().await;
        }
    }
}

/// Goal: records DeleteRecords removed stay removed when another replica leads (the fault
/// harness's F25 read them back after a leader change: the followers had never moved their log
/// start). As in Kafka, a follower takes the leader's log start offset from each fetch answer
/// (up to its own high watermark) and makes it durable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_take_the_log_start_that_delete_records_set_on_the_leader() {
    let (_ports, nodes) = start_cluster().await;
    let leader = trimmed_topic(&nodes).await;
    delete_first_three(&nodes, leader).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let starts = log_starts(&nodes);
        if starts.iter().all(|s| *s == Some(3)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "log starts {starts:?}, expected 3 on every replica"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for node in nodes {
        if let Some(running) = node.running {
            running.shutdown().await;
        }
    }
}

/// Goal: DeleteRecords answers once every live replica's log start has reached the new start
/// (Kafka's DelayedDeleteRecords and its low watermark), so that no replica that could lead
/// next still holds the deleted records (F25: they came back after a leader change that
/// followed the answer). The answer's low watermark is the smallest log start among them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_records_answers_once_every_replica_has_the_new_log_start() {
    let (_ports, nodes) = start_cluster().await;
    let leader = trimmed_topic(&nodes).await;
    let mut client = client(nodes[(leader - 1) as usize].client_port).await;
    let answer = common::admin::delete_records(&mut client, "trimmed", 0, 3).await;
    assert_eq!(answer, (0, 3));
    assert_eq!(log_starts(&nodes), vec![Some(3); 3]);
    for node in nodes {
        if let Some(running) = node.running {
            running.shutdown().await;
        }
    }
}
