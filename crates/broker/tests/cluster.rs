//! A three-node replicated cluster in one process (issue 6): each node a broker and a voter of
//! the metadata quorum on its own 127.0.0.1 ports and temporary directory.
//!
//! Goal: what a client sees of replication. Metadata lists the three brokers and each
//! partition's leader, replicas and ISR; acks=all produce completes once every ISR member has the
//! batch (their logs end at the same offset); followers refuse consumers with
//! NOT_LEADER_OR_FOLLOWER; a stopped leader's partitions move to another in-sync replica, which
//! still has every acknowledged record and accepts acks=all while two replicas remain; and the
//! stopped node comes back, catches up and rejoins the ISR. Waits poll with generous bounds;
//! nothing asserts on time. The SIGKILL and network faults run against real processes in
//! compat/cluster.

mod common;

use std::time::Duration;

use bytes::Bytes;
use protocol::ErrorCode;
use protocol::ResponseBody;
use protocol::generated::produce_response::PartitionProduceResponse;

use broker::BrokerConfig;
use common::admin::{create, topic, with_config};
use common::cluster::*;
use common::produce::{batch, now_ms, produce_request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_node_cluster_replicates_fails_over_and_rejoins() {
    let (ports, mut nodes) = start_cluster().await;
    let first = nodes[0].client_port;
    let mut admin = client(first).await;
    let created = create(
        &mut admin,
        vec![with_config(
            topic("events", 2, 3),
            "min.insync.replicas",
            "2",
        )],
        false,
    )
    .await;
    assert_eq!(created, vec![("events".to_string(), 0)]);
    // A topic config altered through one node is the same on every node.
    alter_retention(&mut client(nodes[1].client_port).await, "events", "3600000").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let retentions: Vec<Option<String>> = nodes
            .iter()
            .map(|node| {
                let running = node.running.as_ref()?;
                let partition = running.broker.replicas.get("events", 0)?;
                partition.config().overrides.get("retention.ms").cloned()
            })
            .collect();
        if retentions.iter().all(|r| r.as_deref() == Some("3600000")) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "retention.ms: {retentions:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let full = vec![1, 2, 3];
    let (leader, _) = wait_metadata(first, "partition 0 with a leader and a full ISR", |m| {
        partition_state(m, "events", 0).filter(|(l, isr)| *l >= 0 && *isr == full)
    })
    .await;
    let leader_port = nodes[(leader - 1) as usize].client_port;

    // acks=all completes when every ISR member has the batch.
    let answer = produce_retrying(leader_port, "events", 5).await;
    assert_eq!(answer.error_code, 0, "{answer:?}");
    assert_eq!(answer.base_offset, 0);
    wait_log_ends(&nodes, "events", 0, 5).await;
    // Without a replica selector a follower refuses consumers (KIP-392's follower reads are on
    // only with `replica.selector.class`, tests/cluster_ops/follower_fetch.rs).
    let follower = nodes.iter().find(|n| n.id != leader).unwrap().client_port;
    for version in [10, 12] {
        assert_eq!(
            fetch_error_at(follower, "events", 0, version).await,
            ErrorCode::NotLeaderOrFollower.code()
        );
    }
    assert_eq!(fetch_error(leader_port, "events", 0).await, 0);

    // The leader stops: another in-sync replica leads, with every acknowledged record.
    let stopped = nodes[(leader - 1) as usize].running.take().unwrap();
    stopped.shutdown().await;
    let survivor = nodes.iter().find(|n| n.id != leader).unwrap().client_port;
    let (new_leader, _) = wait_metadata(survivor, "a new leader for partition 0", |m| {
        partition_state(m, "events", 0).filter(|(l, _)| *l >= 0 && *l != leader)
    })
    .await;
    let new_port = nodes[(new_leader - 1) as usize].client_port;
    let answer = produce_retrying(new_port, "events", 3).await;
    assert_eq!(answer.error_code, 0, "{answer:?}");
    assert_eq!(answer.base_offset, 5, "the acknowledged records survived");

    // The stopped node returns, catches up and rejoins the ISR.
    let index = (leader - 1) as usize;
    let restarted = start(leader, &ports, nodes[index].dir.path()).await;
    nodes[index].running = Some(restarted);
    wait_metadata(new_port, "the returning node back in the ISR", |m| {
        partition_state(m, "events", 0).filter(|(_, isr)| *isr == full)
    })
    .await;
    wait_log_ends(&nodes, "events", 0, 8).await;

    for node in nodes {
        if let Some(running) = node.running {
            running.shutdown().await;
        }
    }
}

/// Goal: the three roles of `process.roles`. Nodes 1 and 2 are brokers and controllers, node 3
/// a controller only (a voter, no Kafka listener), node 4 a broker only (not a voter: it follows
/// the metadata from the active controller). Metadata lists brokers 1, 2 and 4; a topic with
/// replication factor 3 lives on them, and acks=all produce reaches all three logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brokers_controllers_and_combined_nodes_form_one_cluster() {
    let ports: Vec<(u16, u16)> = (0..4).map(|_| (free_port(), free_port())).collect();
    let voters: Vec<String> = (1..=3)
        .map(|id| format!("{id}@127.0.0.1:{}", ports[id - 1].1))
        .collect();
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let config = |id: usize, roles: &str, listeners: String| {
        let mut p = properties(1, &ports[..3], dirs[id - 1].path());
        p.insert("node.id".into(), id.to_string());
        p.insert("process.roles".into(), roles.into());
        p.insert("controller.quorum.voters".into(), voters.join(","));
        p.insert("listeners".into(), listeners);
        BrokerConfig::from_properties(&p).expect("config")
    };
    let both = |id: usize| {
        format!(
            "PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}",
            ports[id - 1].0,
            ports[id - 1].1
        )
    };
    let node1 = broker::run(config(1, "broker,controller", both(1)))
        .await
        .unwrap();
    let node2 = broker::run(config(2, "broker,controller", both(2)))
        .await
        .unwrap();
    let controller3 = broker::cluster::controller_node::run_controller(config(
        3,
        "controller",
        format!("CONTROLLER://127.0.0.1:{}", ports[2].1),
    ))
    .await
    .unwrap();
    let node4 = broker::run(config(
        4,
        "broker",
        format!("PLAINTEXT://127.0.0.1:{}", ports[3].0),
    ))
    .await
    .unwrap();
    let first = ports[0].0;
    let mut brokers = wait_metadata(first, "brokers 1, 2 and 4", |m| {
        let mut ids: Vec<i32> = m.brokers.iter().map(|b| b.node_id).collect();
        ids.sort_unstable();
        (ids == [1, 2, 4]).then_some(ids)
    })
    .await;
    brokers.sort_unstable();
    // The broker-only node answers admin requests through the active controller.
    let mut admin = client(ports[3].0).await;
    let created = create(&mut admin, vec![topic("mixed", 1, 3)], false).await;
    assert_eq!(created, vec![("mixed".to_string(), 0)]);
    let (leader, _) = wait_metadata(first, "a full ISR", |m| {
        partition_state(m, "mixed", 0).filter(|(l, isr)| *l >= 0 && *isr == brokers)
    })
    .await;
    let leader_port = ports[(leader - 1) as usize].0;
    let answer = produce_retrying(leader_port, "mixed", 4).await;
    assert_eq!(answer.error_code, 0, "{answer:?}");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let ends: Vec<Option<i64>> = [&node1, &node2, &node4]
            .iter()
            .map(|n| n.broker.replicas.get("mixed", 0)?.log_end_offset().ok())
            .collect();
        if ends.iter().all(|e| *e == Some(4)) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "log ends {ends:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    node4.shutdown().await;
    node2.shutdown().await;
    node1.shutdown().await;
    controller3.shutdown().await;
}

/// Produces `count` records with acks=all and a 2 s timeout; the partition's answer.
async fn produce_briefly(port: u16, topic: &str, count: i32) -> PartitionProduceResponse {
    let mut request = produce_request(topic, 0, -1, records(count));
    request.timeout_ms = 2_000;
    match client(port).await.send(9, request).await {
        ResponseBody::Produce(mut response) => {
            response.responses.remove(0).partition_responses.remove(0)
        }
        other => panic!("not a produce response: {other:?}"),
    }
}

/// Goal: a leader cut off from the controller, whose ISR followers stopped fetching, stops
/// serving clients instead of appending writes that cannot commit (a leader isolated from the
/// cluster answered an idempotent producer from a log the new leader had moved past, and
/// librdkafka failed fatally). Both followers stop without a controlled shutdown, taking the
/// controller quorum with them: once the session and the replica lag time pass, produce gets
/// NOT_LEADER_OR_FOLLOWER and the log does not grow. When one node returns the quorum forms
/// again, the ISR shrinks to the two live nodes and the leader accepts writes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_the_controller_stops_serving_until_contact_returns() {
    let (ports, mut nodes) = start_cluster().await;
    let first = nodes[0].client_port;
    let mut admin = client(first).await;
    let created = create(&mut admin, vec![topic("cut", 1, 3)], false).await;
    assert_eq!(created, vec![("cut".to_string(), 0)]);
    let full = vec![1, 2, 3];
    let (leader, _) = wait_metadata(first, "a full ISR", |m| {
        partition_state(m, "cut", 0).filter(|(l, isr)| *l >= 0 && *isr == full)
    })
    .await;
    let leader_index = (leader - 1) as usize;
    let leader_port = nodes[leader_index].client_port;
    let answer = produce_retrying(leader_port, "cut", 2).await;
    assert_eq!(answer.error_code, 0, "{answer:?}");
    wait_log_ends(&nodes, "cut", 0, 2).await;

    for node in nodes.iter_mut().filter(|n| n.id != leader) {
        let running = node.running.take().unwrap();
        running.stop_without_controlled_shutdown().await;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let answer = produce_briefly(leader_port, "cut", 1).await;
        if answer.error_code == ErrorCode::NotLeaderOrFollower.code() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cut-off leader still serves: {answer:?}"
        );
    }
    let end_before = log_end(&nodes[leader_index], "cut", 0).unwrap();
    let answer = produce_briefly(leader_port, "cut", 1).await;
    assert_eq!(answer.error_code, ErrorCode::NotLeaderOrFollower.code());
    assert_eq!(
        log_end(&nodes[leader_index], "cut", 0),
        Some(end_before),
        "a refused write is not appended"
    );

    let back = nodes.iter().position(|n| n.id != leader).unwrap();
    let restarted = start(nodes[back].id, &ports, nodes[back].dir.path()).await;
    nodes[back].running = Some(restarted);
    let answer = produce_retrying(leader_port, "cut", 1).await;
    assert_eq!(answer.error_code, 0, "{answer:?}");
    assert!(answer.base_offset >= 2, "{answer:?}");
    for node in nodes.iter_mut() {
        if let Some(running) = node.running.take() {
            running.shutdown().await;
        }
    }
}

/// Goal: a node answers no client request before it has caught up with the controller's
/// metadata, as Kafka opens its listeners only then (a node back with an empty data folder
/// answered "unknown topic" and clients counted 0 partitions). Alone, node 1 of three voters
/// has no quorum: its Metadata request waits. Once node 2 starts, the same request is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_answers_clients_only_after_catching_up_with_the_metadata() {
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let node1 = start(1, &ports, dirs[0].path()).await;
    let mut early = client(ports[0].0).await;
    let pending = tokio::spawn(async move { metadata(&mut early).await });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !pending.is_finished(),
        "answered before catching up: {:?}",
        pending.await
    );
    let node2 = start(2, &ports, dirs[1].path()).await;
    let answer = tokio::time::timeout(WAIT, pending)
        .await
        .expect("answered once caught up")
        .expect("the request task");
    assert!(answer.brokers.iter().any(|b| b.node_id == 1), "{answer:?}");
    node2.stop_without_controlled_shutdown().await;
    node1.stop_without_controlled_shutdown().await;
}

/// Goal: a group answer leaves only once the records it depends on reach the ISR, as Kafka's
/// coordinator writes `__consumer_offsets` with acks=all (issue 9: one replication
/// purgatory). Method: a follower of the group's `__consumer_offsets` partition is stopped but
/// stays in the ISR until the leader shrinks it (`replica.lag.time.max.ms`, 3 s here), so the
/// coordinator's tombstones cannot commit before then. DeleteGroups is sent at once; if it is
/// answered with success, the partition's high watermark must already cover everything the
/// coordinator wrote. Before the change DeleteGroups answered right after the local append,
/// seconds before the ISR shrank.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_groups_answers_once_its_tombstones_reach_the_isr() {
    use protocol::generated::DeleteGroupsRequest;

    const GROUP: &str = "isr-group";
    const OFFSETS: &str = "__consumer_offsets";
    let (_ports, mut nodes) = start_cluster().await;
    let first = nodes[0].client_port;
    let mut admin = client(first).await;
    let created = create(&mut admin, vec![topic("committed", 1, 3)], false).await;
    assert_eq!(created, vec![("committed".to_string(), 0)]);
    let offsets_partition = coordinator::partition_for(GROUP, 3);
    let full = vec![1, 2, 3];
    let (leader, _) = wait_metadata(
        first,
        "the group's offsets partition with a full ISR",
        |m| {
            partition_state(m, OFFSETS, offsets_partition)
                .filter(|(l, isr)| *l >= 0 && *isr == full)
        },
    )
    .await;
    let leader_index = (leader - 1) as usize;
    let mut coordinator_client = client(nodes[leader_index].client_port).await;

    // An empty group with a committed offset (a commit outside any generation).
    commit_offset(nodes[leader_index].client_port, GROUP, 7).await;

    let follower = nodes.iter().position(|n| n.id != leader).unwrap();
    let running = nodes[follower].running.take().unwrap();
    running.stop_without_controlled_shutdown().await;
    let request = DeleteGroupsRequest {
        groups_names: vec![GROUP.into()],
        ..Default::default()
    };
    let code = match coordinator_client.send(2, request).await {
        ResponseBody::DeleteGroups(r) => r.results[0].error_code,
        other => panic!("not a delete groups response: {other:?}"),
    };
    let partition = nodes[leader_index]
        .running
        .as_ref()
        .unwrap()
        .broker
        .replicas
        .get(OFFSETS, offsets_partition)
        .unwrap();
    let (high_watermark, log_end) = (
        partition.high_watermark().unwrap(),
        partition.log_end_offset().unwrap(),
    );
    let retriable = [
        ErrorCode::CoordinatorNotAvailable.code(),
        ErrorCode::NotCoordinator.code(),
    ];
    assert!(code == 0 || retriable.contains(&code), "{code}");
    if code == 0 {
        assert_eq!(
            high_watermark, log_end,
            "DeleteGroups answered before its tombstones reached the ISR"
        );
    }
    for node in nodes.iter_mut() {
        if let Some(running) = node.running.take() {
            running.shutdown().await;
        }
    }
}

/// A measurement, run by hand (issue 9: "a request carrying 8 partitions costs one follower
/// round trip"): `cargo test --release -p broker --test cluster -- --ignored --nocapture
/// acks_all_latency`. Three nodes in this process, a topic of 8 partitions all led by node 1
/// with replicas on all three, acks=all requests of 1 KiB per partition sent one at a time to
/// the leader: one partition per request, then all 8. If the 8 partitions' replication waits
/// overlap, the 8-partition request costs about what a 1-partition request costs, not 8 times.
/// Every answer must be a success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by hand"]
async fn acks_all_latency_of_one_and_eight_partitions() {
    use protocol::codec::Records;
    use protocol::generated::create_topics_request::CreatableReplicaAssignment;
    use protocol::generated::produce_request::PartitionProduceData;

    const PARTITIONS: i32 = 8;
    const ROUNDS: usize = 400;
    let (_ports, mut nodes) = start_cluster().await;
    let first = nodes[0].client_port;
    let mut admin = client(first).await;
    let mut latency = topic("latency", -1, -1);
    latency.assignments = (0..PARTITIONS)
        .map(|partition_index| CreatableReplicaAssignment {
            partition_index,
            broker_ids: vec![1, 2, 3],
            ..Default::default()
        })
        .collect();
    let created = create(&mut admin, vec![latency], false).await;
    assert_eq!(created, vec![("latency".to_string(), 0)]);
    let full = vec![1, 2, 3];
    for partition in 0..PARTITIONS {
        wait_metadata(first, "a full ISR led by node 1", |m| {
            partition_state(m, "latency", partition).filter(|(l, isr)| *l == 1 && *isr == full)
        })
        .await;
    }
    let value = Bytes::from(vec![b'x'; 1024]);
    let one_record = || {
        let mut builder = batch(0, now_ms());
        builder
            .push(protocol::records::Record {
                offset_delta: 0,
                timestamp_delta: 0,
                key: None,
                value: Some(value.clone()),
                headers: Vec::new(),
            })
            .expect("a record");
        builder.build().expect("a batch")
    };
    let mut leader = client(nodes[0].client_port).await;
    for partitions in [1, PARTITIONS, 1, PARTITIONS] {
        let mut micros = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let mut request = produce_request("latency", 0, -1, one_record());
            request.topic_data[0].partition_data = (0..partitions)
                .map(|index| PartitionProduceData {
                    index,
                    records: Some(Records::Bytes(one_record())),
                    ..Default::default()
                })
                .collect();
            let started = std::time::Instant::now();
            let answer = match leader.send(11, request).await {
                ResponseBody::Produce(answer) => answer,
                other => panic!("not a produce response: {other:?}"),
            };
            micros.push(started.elapsed().as_micros());
            for p in &answer.responses[0].partition_responses {
                assert_eq!(p.error_code, 0, "{p:?}");
            }
        }
        micros.sort_unstable();
        let at = |q: f64| micros[((micros.len() as f64 * q) as usize).min(micros.len() - 1)];
        println!(
            "acks=all, {partitions} partition(s) per request, {ROUNDS} requests: p50 {} us, p90 {} us, p99 {} us",
            at(0.5),
            at(0.9),
            at(0.99)
        );
    }
    for node in nodes.iter_mut() {
        if let Some(running) = node.running.take() {
            running.shutdown().await;
        }
    }
}

/// Commits `offset` for `committed`-0 in `group` through `port`, retrying until accepted.
async fn commit_offset(port: u16, group: &str, offset: i64) {
    use protocol::generated::OffsetCommitRequest;
    use protocol::generated::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    let commit = OffsetCommitRequest {
        group_id: group.into(),
        generation_id_or_member_epoch: -1,
        retention_time_ms: -1,
        topics: vec![OffsetCommitRequestTopic {
            name: "committed".into(),
            partitions: vec![OffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: offset,
                committed_leader_epoch: -1,
                commit_timestamp: -1,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut client = client(port).await;
    loop {
        let code = match client.send(8, commit.clone()).await {
            ResponseBody::OffsetCommit(r) => r.topics[0].partitions[0].error_code,
            other => panic!("not an offset commit response: {other:?}"),
        };
        if code == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the commit of {offset} through port {port} was not accepted: {code}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The offset `group` has committed for `committed`-0, read through `port` (OffsetFetch,
/// retried while the coordinator is loading or moving).
async fn fetch_committed(port: u16, group: &str) -> i64 {
    use protocol::generated::OffsetFetchRequest;
    use protocol::generated::offset_fetch_request::OffsetFetchRequestTopic;
    let request = OffsetFetchRequest {
        group_id: group.into(),
        topics: Some(vec![OffsetFetchRequestTopic {
            name: "committed".into(),
            partition_indexes: vec![0],
            ..Default::default()
        }]),
        ..Default::default()
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut client = client(port).await;
    loop {
        let (code, offset) = match client.send(7, request.clone()).await {
            ResponseBody::OffsetFetch(r) => {
                (r.error_code, r.topics[0].partitions[0].committed_offset)
            }
            other => panic!("not an offset fetch response: {other:?}"),
        };
        if code == 0 {
            return offset;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "OffsetFetch through port {port} kept failing: {code}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Goal: a group coordinator that led its `__consumer_offsets` partition before, lost it and
/// leads it again serves what the leaders in between acknowledged (the cluster suite saw
/// committed offsets go back: a node kept the shard it had loaded at an older leader epoch).
/// Method: the partition's replicas are [P, A, C]. P stops (controlled): A leads and
/// acknowledges a commit of 10; P returns and, by a preferred election, leads again and
/// acknowledges 20, while A's shard is left untouched; P stops again and A, first of the ISR in
/// replica order, leads once more. OffsetFetch through A must answer 20.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_leading_again_replays_what_others_acknowledged() {
    use protocol::generated::ElectLeadersRequest;
    use protocol::generated::elect_leaders_request::TopicPartitions;

    const GROUP: &str = "returning-coordinator";
    const OFFSETS: &str = "__consumer_offsets";
    let (ports, mut nodes) = start_cluster().await;
    let first = nodes[0].client_port;
    let mut admin = client(first).await;
    let created = create(&mut admin, vec![topic("committed", 1, 3)], false).await;
    assert_eq!(created, vec![("committed".to_string(), 0)]);
    let offsets_partition = coordinator::partition_for(GROUP, 3);
    let replicas = wait_metadata(first, "the offsets partition with a full ISR", |m| {
        let t = m
            .topics
            .iter()
            .find(|t| t.name.as_deref() == Some(OFFSETS))?;
        let p = t
            .partitions
            .iter()
            .find(|p| p.partition_index == offsets_partition)?;
        (p.leader_id == p.replica_nodes[0] && p.isr_nodes.len() == 3)
            .then(|| p.replica_nodes.clone())
    })
    .await;
    let (preferred, second) = (replicas[0], replicas[1]);
    let index = |id: i32| (id - 1) as usize;
    let full_isr = |leader: i32| {
        move |m: &protocol::generated::MetadataResponse| {
            partition_state(m, OFFSETS, offsets_partition)
                .filter(|(l, isr)| *l == leader && isr.len() == 3)
        }
    };
    let observer = nodes[index(replicas[2])].client_port;

    // P stops; A leads and acknowledges 10.
    nodes[index(preferred)]
        .running
        .take()
        .unwrap()
        .shutdown()
        .await;
    wait_metadata(observer, "the second replica leading", |m| {
        partition_state(m, OFFSETS, offsets_partition).filter(|(l, _)| *l == second)
    })
    .await;
    commit_offset(nodes[index(second)].client_port, GROUP, 10).await;
    assert_eq!(
        fetch_committed(nodes[index(second)].client_port, GROUP).await,
        10
    );

    // P returns, catches up, leads again by a preferred election and acknowledges 20.
    let restarted = start(preferred, &ports, nodes[index(preferred)].dir.path()).await;
    nodes[index(preferred)].running = Some(restarted);
    wait_metadata(observer, "the preferred replica back in the ISR", |m| {
        partition_state(m, OFFSETS, offsets_partition)
            .filter(|(l, isr)| *l == second && isr.len() == 3)
    })
    .await;
    let election = ElectLeadersRequest {
        election_type: 0,
        topic_partitions: Some(vec![TopicPartitions {
            topic: OFFSETS.into(),
            partitions: vec![offsets_partition],
            ..Default::default()
        }]),
        timeout_ms: 30_000,
        ..Default::default()
    };
    // Through the node that never stops (the first node may be P).
    match client(observer).await.send(2, election).await {
        ResponseBody::ElectLeaders(r) => assert_eq!(r.error_code, 0, "{r:?}"),
        other => panic!("not an elect leaders response: {other:?}"),
    }
    wait_metadata(
        observer,
        "the preferred replica leading",
        full_isr(preferred),
    )
    .await;
    commit_offset(nodes[index(preferred)].client_port, GROUP, 20).await;

    // P stops again; A leads once more and must serve 20.
    nodes[index(preferred)]
        .running
        .take()
        .unwrap()
        .shutdown()
        .await;
    wait_metadata(observer, "the second replica leading again", |m| {
        partition_state(m, OFFSETS, offsets_partition).filter(|(l, _)| *l == second)
    })
    .await;
    assert_eq!(
        fetch_committed(nodes[index(second)].client_port, GROUP).await,
        20,
        "a coordinator leading again served the state it had loaded at an older epoch"
    );
    for node in nodes.iter_mut() {
        if let Some(running) = node.running.take() {
            running.shutdown().await;
        }
    }
}
