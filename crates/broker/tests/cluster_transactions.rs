//! Transactions in a three-node cluster in one process: the coordinator (the leader of the
//! transactional id's `__transaction_state` partition) writes markers to partitions led by
//! other brokers (WriteTxnMarkers), partition leaders verify and add partitions with a remote
//! coordinator (AddPartitionsToTxn v5, KIP-890), and when the coordinator's broker stops, the
//! new leader of its partition loads the state and completes the open transaction.
//! Waits poll with generous bounds; nothing asserts on time.

mod common;

use std::time::Duration;

use protocol::generated::FindCoordinatorRequest;
use protocol::{ErrorCode, ResponseBody};

use common::admin::{create, topic};
use common::cluster::*;
use common::txn::*;

const RETRIABLE: [ErrorCode; 5] = [
    ErrorCode::NotCoordinator,
    ErrorCode::CoordinatorNotAvailable,
    ErrorCode::CoordinatorLoadInProgress,
    ErrorCode::ConcurrentTransactions,
    ErrorCode::NotEnoughReplicas,
];

fn retriable(code: i16) -> bool {
    RETRIABLE.iter().any(|e| e.code() == code)
}

/// The node that coordinates `id`, asked of the broker on `port`.
async fn find_coordinator(port: u16, id: &str) -> i32 {
    let mut asker = client(port).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let request = FindCoordinatorRequest {
            key: id.into(),
            key_type: 1,
            ..Default::default()
        };
        let ResponseBody::FindCoordinator(response) = asker.send(3, request).await else {
            panic!("not a FindCoordinator response");
        };
        if response.error_code == 0 {
            return response.node_id;
        }
        assert!(retriable(response.error_code), "{response:?}");
        assert!(tokio::time::Instant::now() < deadline, "no coordinator");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The read_committed fetch's (last stable offset, high watermark, aborted producer ids).
async fn stable(port: u16, partition: i32) -> (i64, i64, Vec<i64>) {
    let response = fetch_from(&mut client(port).await, "ct", partition, 1).await;
    let data = &response.responses[0].partitions[0];
    assert_eq!(data.error_code, 0, "{data:?}");
    let aborted = data
        .aborted_transactions
        .iter()
        .flatten()
        .map(|a| a.producer_id)
        .collect();
    (data.last_stable_offset, data.high_watermark, aborted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markers_reach_every_leader_and_a_new_coordinator_finishes_the_transaction() {
    let (_ports, mut nodes) = start_cluster().await;
    let first = nodes[0].client_port;
    let created = create(&mut client(first).await, vec![topic("ct", 3, 3)], false).await;
    assert_eq!(created, vec![("ct".to_string(), 0)]);
    let full = vec![1, 2, 3];
    let leaders: Vec<i32> = wait_metadata(first, "three led partitions with full ISRs", |m| {
        (0..3)
            .map(|p| partition_state(m, "ct", p).filter(|(l, isr)| *l > 0 && *isr == full))
            .map(|state| state.map(|(leader, _)| leader))
            .collect::<Option<Vec<i32>>>()
    })
    .await;
    let ports: Vec<u16> = nodes.iter().map(|n| n.client_port).collect();
    let port_of = |id: i32| ports[(id - 1) as usize];

    let coordinator = find_coordinator(first, "ctx").await;
    let mut coord = client(port_of(coordinator)).await;
    let (code, pid, epoch) = init(&mut coord, "ctx").await;
    assert_eq!(code, 0);
    assert_eq!(
        add_partitions(&mut coord, "ctx", pid, epoch, "ct", &[0, 1, 2]).await,
        vec![0, 0, 0]
    );
    for partition in 0..3 {
        let mut leader = client(port_of(leaders[partition as usize])).await;
        let batch = txn_batch(pid, epoch, 0, 2);
        let code = produce_txn_to(&mut leader, 9, "ctx", "ct", partition, batch).await;
        assert_eq!(code, 0, "partition {partition}");
    }
    assert_eq!(end(&mut coord, "ctx", pid, epoch, true).await, 0);
    wait_state(&mut coord, "ctx", "CompleteCommit").await;
    for partition in 0..3 {
        // Two records and the COMMIT marker, on every leader.
        let (lso, hw, aborted) = stable(port_of(leaders[partition as usize]), partition).await;
        assert_eq!((lso, hw, aborted), (3, 3, vec![]), "partition {partition}");
    }

    // Transactions v2 (Produce v12) on a partition led elsewhere: its leader adds it with the
    // remote coordinator.
    let remote = (0..3)
        .find(|p| leaders[*p as usize] != coordinator)
        .expect("three partitions are not all led by one broker");
    let remote_port = port_of(leaders[remote as usize]);
    let code = produce_txn_to(
        &mut client(remote_port).await,
        12,
        "ctx",
        "ct",
        remote,
        txn_batch(pid, epoch, 2, 1),
    )
    .await;
    assert_eq!(code, 0);
    wait_state(&mut coord, "ctx", "Ongoing").await;
    let (lso, hw, _) = stable(remote_port, remote).await;
    assert_eq!((lso, hw), (3, 4), "the open transaction holds the LSO");

    // The coordinator stops; the new leader of its partition loads the open transaction and
    // the producer aborts it there.
    drop(coord);
    let stopped = nodes[(coordinator - 1) as usize].running.take().unwrap();
    stopped.shutdown().await;
    let survivor = nodes
        .iter()
        .find(|n| n.running.is_some())
        .unwrap()
        .client_port;
    let deadline = tokio::time::Instant::now() + WAIT;
    let new_coordinator = loop {
        let found = find_coordinator(survivor, "ctx").await;
        if found != coordinator {
            break found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the coordinator did not move"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut coord = client(port_of(new_coordinator)).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let code = end(&mut coord, "ctx", pid, epoch, false).await;
        if code == 0 {
            break;
        }
        assert!(retriable(code), "EndTxn: {code}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "EndTxn kept failing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_state(&mut coord, "ctx", "CompleteAbort").await;
    let (lso, hw, aborted) = stable(remote_port, remote).await;
    assert_eq!((lso, hw), (5, 5), "the ABORT marker is in and stable");
    assert_eq!(aborted, vec![pid]);

    for node in nodes {
        if let Some(running) = node.running {
            running.shutdown().await;
        }
    }
}
