//! Helpers of the in-process three-node cluster tests (`cluster.rs`, `cluster_compaction.rs`):
//! nodes that are each a broker and a voter of the metadata quorum on their own 127.0.0.1
//! ports and temporary directory, and polling waits with generous bounds.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use protocol::ErrorCode;
use protocol::generated::fetch_request::{FetchPartition, FetchTopic};
use protocol::generated::fetch_response::PartitionData;
use protocol::generated::produce_response::PartitionProduceResponse;
use protocol::generated::{FetchRequest, MetadataRequest, MetadataResponse};
use protocol::{ResponseBody, Uuid};

use broker::{BrokerConfig, RunningBroker};

use super::TestClient;
use super::produce::{batch, now_ms, produce};

pub const WAIT: Duration = Duration::from_secs(60);

pub struct Node {
    pub id: i32,
    pub client_port: u16,
    pub running: Option<RunningBroker>,
    pub dir: tempfile::TempDir,
}

/// A port free now, taken below Linux's ephemeral range (32768-60999). A port the kernel hands
/// out for `127.0.0.1:0` is free only until the next outgoing connection, which may take it as
/// its source port before the node binds it (the cluster tests run in parallel, each with
/// nodes connecting to each other): `Address already in use`. Ports come from a counter
/// starting at a point derived from the process id, so test binaries run at once rarely meet.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id() * 97) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {FIRST}..{}", FIRST + SPAN);
}

pub fn properties(
    id: i32,
    ports: &[(u16, u16)],
    dir: &std::path::Path,
) -> BTreeMap<String, String> {
    let voters: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, (_, controller))| format!("{}@127.0.0.1:{controller}", i + 1))
        .collect();
    let (client, controller) = ports[(id - 1) as usize];
    let pairs = [
        ("node.id", id.to_string()),
        ("process.roles", "broker,controller".to_string()),
        ("controller.quorum.voters", voters.join(",")),
        (
            "listeners",
            format!("PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:{controller}"),
        ),
        ("log.dirs", dir.to_string_lossy().into_owned()),
        ("broker.session.timeout.ms", "3000".to_string()),
        ("broker.heartbeat.interval.ms", "300".to_string()),
        ("replica.lag.time.max.ms", "3000".to_string()),
        ("controller.quorum.election.timeout.ms", "500".to_string()),
        ("offsets.topic.replication.factor", "3".to_string()),
        ("offsets.topic.num.partitions", "3".to_string()),
        ("transaction.state.log.num.partitions", "3".to_string()),
        ("log.cleaner.backoff.ms", "100".to_string()),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

pub async fn start(id: i32, ports: &[(u16, u16)], dir: &std::path::Path) -> RunningBroker {
    start_with(id, ports, dir, &[]).await
}

/// Starts node `id` with `extra` settings over [`properties`] (an extra `listeners` replaces
/// the default list).
pub async fn start_with(
    id: i32,
    ports: &[(u16, u16)],
    dir: &std::path::Path,
    extra: &[(String, String)],
) -> RunningBroker {
    let mut properties = properties(id, ports, dir);
    properties.extend(extra.iter().cloned());
    let config = BrokerConfig::from_properties(&properties).expect("config");
    broker::run(config).await.expect("the node starts")
}

/// Three combined nodes, returned once node 1 lists all three brokers unfenced.
pub async fn start_cluster() -> (Vec<(u16, u16)>, Vec<Node>) {
    start_cluster_with(&|_, _| Vec::new()).await
}

/// Extra settings for a node, from its id and the cluster's (client, controller) ports.
pub type NodeSettings<'a> = dyn Fn(i32, &[(u16, u16)]) -> Vec<(String, String)> + 'a;

/// [`start_cluster`] with extra settings for each node.
pub async fn start_cluster_with(extra: &NodeSettings<'_>) -> (Vec<(u16, u16)>, Vec<Node>) {
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let mut nodes = Vec::new();
    for id in 1..=3 {
        let dir = tempfile::tempdir().expect("a directory");
        let running = start_with(id, &ports, dir.path(), &extra(id, &ports)).await;
        nodes.push(Node {
            id,
            client_port: ports[(id - 1) as usize].0,
            running: Some(running),
            dir,
        });
    }
    wait_metadata(nodes[0].client_port, "three unfenced brokers", |m| {
        (m.brokers.len() == 3).then_some(())
    })
    .await;
    (ports, nodes)
}

pub async fn client(port: u16) -> TestClient {
    TestClient::connect(([127, 0, 0, 1], port).into()).await
}

pub async fn metadata(client: &mut TestClient) -> MetadataResponse {
    let request = MetadataRequest {
        topics: None,
        ..Default::default()
    };
    match client.send(12, request).await {
        ResponseBody::Metadata(response) => response,
        other => panic!("not a metadata response: {other:?}"),
    }
}

/// Polls Metadata from `port` until `check` returns `Some`, for at most [`WAIT`].
pub async fn wait_metadata<T>(
    port: u16,
    what: &str,
    check: impl Fn(&MetadataResponse) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut client = client(port).await;
    loop {
        let response = metadata(&mut client).await;
        if let Some(value) = check(&response) {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {response:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// (leader, ISR) of `topic`-`partition`.
pub fn partition_state(
    response: &MetadataResponse,
    topic: &str,
    partition: i32,
) -> Option<(i32, Vec<i32>)> {
    let t = response
        .topics
        .iter()
        .find(|t| t.name.as_deref() == Some(topic))?;
    let p = t
        .partitions
        .iter()
        .find(|p| p.partition_index == partition)?;
    let mut isr = p.isr_nodes.clone();
    isr.sort_unstable();
    Some((p.leader_id, isr))
}

pub fn records(count: i32) -> Bytes {
    batch(count, now_ms()).build().expect("a batch")
}

/// Produces as a client does after a metadata refresh: a broker that has not applied the
/// image yet answers with a retriable error (unknown partition, not leader, not enough
/// replicas), so the request is retried until accepted or `WAIT` runs out.
pub async fn produce_retrying(port: u16, topic: &str, count: i32) -> PartitionProduceResponse {
    const RETRIABLE: [ErrorCode; 4] = [
        ErrorCode::UnknownTopicOrPartition,
        ErrorCode::NotLeaderOrFollower,
        ErrorCode::LeaderNotAvailable,
        ErrorCode::NotEnoughReplicas,
    ];
    let mut producer = client(port).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let answer = produce(&mut producer, 9, topic, 0, -1, records(count)).await;
        let retriable = RETRIABLE.iter().any(|e| e.code() == answer.error_code);
        if !retriable || tokio::time::Instant::now() > deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn fetch_error(port: u16, topic: &str, partition: i32) -> i16 {
    fetch_error_at(port, topic, partition, 12).await
}

/// A consumer's Fetch `version` of `topic`-`partition` from offset 0: the partition's error.
pub async fn fetch_error_at(port: u16, topic: &str, partition: i32, version: i16) -> i16 {
    consumer_fetch(port, topic, partition, version, "")
        .await
        .error_code
}

/// A consumer's Fetch `version` of `topic`-`partition` from offset 0 naming `rack` (KIP-392's
/// `rack_id`, from v11): the partition's answer.
pub async fn consumer_fetch(
    port: u16,
    topic: &str,
    partition: i32,
    version: i16,
    rack: &str,
) -> PartitionData {
    let request = FetchRequest {
        replica_id: -1,
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 20,
        rack_id: rack.into(),
        topics: vec![FetchTopic {
            topic: topic.into(),
            topic_id: Uuid::ZERO,
            partitions: vec![FetchPartition {
                partition,
                current_leader_epoch: -1,
                fetch_offset: 0,
                last_fetched_epoch: -1,
                log_start_offset: -1,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let ResponseBody::Fetch(mut response) = client(port).await.send(version, request).await else {
        panic!("not a fetch response");
    };
    response.responses.remove(0).partitions.remove(0)
}

pub async fn alter_retention(client: &mut TestClient, topic: &str, value: &str) {
    use protocol::generated::IncrementalAlterConfigsRequest;
    use protocol::generated::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };
    let request = IncrementalAlterConfigsRequest {
        resources: vec![AlterConfigsResource {
            resource_type: super::admin::TOPIC,
            resource_name: topic.into(),
            configs: vec![AlterableConfig {
                name: "retention.ms".into(),
                config_operation: 0,
                value: Some(value.into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    // A node that has not applied the topic's creation yet answers UNKNOWN_TOPIC_OR_PARTITION,
    // which admin clients retry.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let ResponseBody::IncrementalAlterConfigs(response) = client.send(1, request.clone()).await
        else {
            panic!("not an IncrementalAlterConfigs response");
        };
        let code = response.responses[0].error_code;
        if code != ErrorCode::UnknownTopicOrPartition.code()
            || tokio::time::Instant::now() > deadline
        {
            assert_eq!(code, 0, "{response:?}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn log_end(node: &Node, topic: &str, partition: i32) -> Option<i64> {
    let running = node.running.as_ref()?;
    let partition = running.broker.replicas.get(topic, partition)?;
    partition.log_end_offset().ok()
}

pub async fn wait_log_ends(nodes: &[Node], topic: &str, partition: i32, expected: i64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let ends: Vec<Option<i64>> = nodes.iter().map(|n| log_end(n, topic, partition)).collect();
        if ends.iter().all(|e| e.is_none_or(|e| e == expected)) && ends.iter().any(Option::is_some)
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "log ends {ends:?}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
