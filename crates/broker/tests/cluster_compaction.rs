//! Compaction in a three-node cluster (in-process nodes, see `common/cluster.rs`): a follower
//! that was down while the leader compacted catches up through the offset gaps and holds every
//! key; after the leader stops, the new leader serves the latest value of every key from its
//! own compacted log; the stopped node comes back and rejoins the ISR.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use protocol::ErrorCode;

use common::admin::{create, topic, with_config};
use common::cluster::*;
use common::produce::{keyed, produce, read_all};

/// Produces keyed batches (20 keys, 300 records) to the leader, retrying retriable answers;
/// returns the latest value of each key.
async fn produce_keyed(port: u16, rounds: usize) -> BTreeMap<String, String> {
    let mut latest = BTreeMap::new();
    let mut producer = client(port).await;
    for round in 0..rounds {
        let records: Vec<_> = (0..10)
            .map(|i| {
                let n = round * 10 + i;
                (
                    format!("key-{}", n % 20),
                    Some(format!("value-{n}-{}", "y".repeat(60))),
                )
            })
            .collect();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let answer = produce(&mut producer, 9, "kv", 0, -1, keyed(&records)).await;
            if answer.error_code == 0 {
                break;
            }
            assert!(
                answer.error_code == ErrorCode::NotEnoughReplicas.code()
                    || answer.error_code == ErrorCode::NotLeaderOrFollower.code()
                    || answer.error_code == ErrorCode::UnknownTopicOrPartition.code(),
                "{answer:?}"
            );
            assert!(tokio::time::Instant::now() < deadline, "{answer:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for (key, value) in records {
            latest.insert(key, value.unwrap());
        }
    }
    latest
}

/// Reads `kv` from `port` until it is compacted (fewer records than `written`) and holds the
/// latest value of every key; fails with the difference when that does not happen in time.
async fn wait_compacted(port: u16, written: usize, latest: &BTreeMap<String, String>) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut reader = client(port).await;
    loop {
        let records = read_all(&mut reader, "kv").await;
        let mut seen = BTreeMap::new();
        for (_, key, value) in &records {
            seen.insert(key.clone(), value.clone().unwrap_or_default());
        }
        // A new leader's high watermark may start below its log end (it advances once the
        // ISR's followers fetch from it), so the latest values can show a moment later.
        if &seen == latest && records.len() < written / 2 {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            assert_eq!(&seen, latest, "the latest value of every key");
            panic!("not compacted: {} records", records.len());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The (offset, key) of every record in `node`'s replica of `kv`, read in-process below its log
/// end (a follower serves no consumer).
fn replica_records(node: &Node) -> Vec<(i64, String)> {
    use bytes::Bytes;
    use protocol::records::{RecordBatches, decode_batch_records};
    let partition = node
        .running
        .as_ref()
        .unwrap()
        .broker
        .replicas
        .get("kv", 0)
        .unwrap();
    let end = partition.log_end_offset().unwrap();
    let mut offset = partition.log_start_offset().unwrap();
    let mut out = Vec::new();
    while offset < end {
        let data = partition.read(offset, 1 << 20, end, true).unwrap();
        let bytes = data
            .records
            .expect("data below the log end")
            .read_to_bytes()
            .unwrap();
        for header in RecordBatches::new(&bytes) {
            let header = header.unwrap();
            header.verify_crc().unwrap();
            let batch = Bytes::copy_from_slice(header.as_bytes());
            for record in decode_batch_records(&header, &batch, 1 << 24).unwrap() {
                let record = record.unwrap();
                let at = header.base_offset() + i64::from(record.offset_delta);
                out.push((
                    at,
                    String::from_utf8_lossy(&record.key.unwrap()).into_owned(),
                ));
            }
            offset = header.last_offset() + 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_compact_their_logs_and_a_new_leader_serves_the_latest_values() {
    let (ports, mut nodes) = start_cluster().await;
    let first = nodes[0].client_port;
    let mut admin = client(first).await;
    let mut kv = with_config(topic("kv", 1, 3), "cleanup.policy", "compact");
    kv = with_config(kv, "segment.bytes", "1024");
    kv = with_config(kv, "min.cleanable.dirty.ratio", "0.01");
    kv = with_config(kv, "min.insync.replicas", "2");
    assert_eq!(
        create(&mut admin, vec![kv], false).await,
        vec![("kv".to_string(), 0)]
    );
    let full = vec![1, 2, 3];
    let (leader, _) = wait_metadata(first, "kv with a leader and a full ISR", |m| {
        partition_state(m, "kv", 0).filter(|(l, isr)| *l >= 0 && *isr == full)
    })
    .await;
    let leader_port = nodes[(leader - 1) as usize].client_port;

    // A follower is down while the leader takes 300 records and compacts them.
    let absent = nodes.iter().position(|n| n.id != leader).unwrap();
    let absent_id = nodes[absent].id;
    nodes[absent].running.take().unwrap().shutdown().await;
    let latest = produce_keyed(leader_port, 30).await;
    wait_compacted(leader_port, 300, &latest).await;

    // It returns and catches up from the compacted leader, through the offset gaps.
    nodes[absent].running = Some(start(absent_id, &ports, nodes[absent].dir.path()).await);
    wait_metadata(leader_port, "the returning follower back in the ISR", |m| {
        partition_state(m, "kv", 0).filter(|(_, isr)| *isr == full)
    })
    .await;
    wait_log_ends(&nodes, "kv", 0, 300).await;
    let caught_up = replica_records(&nodes[absent]);
    let keys: std::collections::BTreeSet<_> = caught_up.iter().map(|(_, k)| k.clone()).collect();
    assert_eq!(keys.len(), latest.len(), "every key reached the follower");
    assert!(
        caught_up.len() < 300,
        "the follower copied the compacted log: {}",
        caught_up.len()
    );

    // The leader stops; the new leader has compacted its own replica and serves every key.
    let stopped = nodes[(leader - 1) as usize].running.take().unwrap();
    stopped.shutdown().await;
    let survivor = nodes.iter().find(|n| n.id != leader).unwrap().client_port;
    let (new_leader, _) = wait_metadata(survivor, "a new leader for kv", |m| {
        partition_state(m, "kv", 0).filter(|(l, _)| *l >= 0 && *l != leader)
    })
    .await;
    let new_port = nodes[(new_leader - 1) as usize].client_port;
    wait_compacted(new_port, 300, &latest).await;
    let more = produce_keyed(new_port, 5).await;
    let mut expected = latest.clone();
    expected.extend(more);

    // The stopped node returns and rejoins.
    let index = (leader - 1) as usize;
    nodes[index].running = Some(start(leader, &ports, nodes[index].dir.path()).await);
    wait_metadata(new_port, "the old leader back in the ISR", |m| {
        partition_state(m, "kv", 0).filter(|(_, isr)| *isr == full)
    })
    .await;
    wait_log_ends(&nodes, "kv", 0, 350).await;
    wait_compacted(new_port, 350, &expected).await;
    for node in nodes {
        if let Some(running) = node.running {
            running.shutdown().await;
        }
    }
}
