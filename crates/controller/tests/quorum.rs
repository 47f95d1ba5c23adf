//! The metadata quorum end to end in one process: three controllers on openraft with their
//! files in temporary directories and the in-process transport.
//!
//! Goal (issue 6, reliability F20): commands committed through the active controller survive
//! the loss of that controller and the restart of a node from its files. Method: start three
//! nodes, wait for a leader, commit commands, drop the leader, wait for a new one, commit more,
//! restart the dropped node from its directory and wait until its image equals the leader's.
//! Waits poll with a bound; nothing sleeps as an assertion.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use controller::{
    ControllerConfig, ControllerError, ControllerNode, InProcessTransport, MetadataCommand as C,
    MetadataImage, MetadataQuorum, Outcome, QuorumError, TopicId,
};

const WAIT: Duration = Duration::from_secs(10);

fn config(id: u64, root: &Path) -> ControllerConfig {
    let voters: BTreeMap<u64, String> = (1..=3)
        .map(|v| (v, format!("127.0.0.1:{}", 9092 + v)))
        .collect();
    let mut config = ControllerConfig::new(id, voters, root.join(format!("node-{id}")));
    config.election_timeout_ms_min = 150;
    config.election_timeout_ms_max = 300;
    config.heartbeat_interval_ms = 50;
    config.snapshot_entries_max = 5; // snapshots and log purges happen within the test
    config
}

async fn start(id: u64, root: &Path, transport: &Arc<InProcessTransport>) -> ControllerNode {
    let node = ControllerNode::start(config(id, root), Arc::clone(transport))
        .await
        .unwrap();
    transport.connect(&node);
    node
}

/// Polls `check` every 20 ms until it returns `Some`, for at most [`WAIT`].
async fn wait_for<T, F: Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn leader_of(nodes: &BTreeMap<u64, ControllerNode>) -> u64 {
    wait_for("an active controller", || async {
        nodes
            .values()
            .find(|n| n.is_active())
            .map(ControllerNode::node_id)
    })
    .await
}

async fn converged(nodes: &BTreeMap<u64, ControllerNode>, leader: u64) {
    wait_for("followers to apply the leader's log", || async {
        let target = nodes[&leader].last_applied_index();
        nodes
            .values()
            .all(|n| n.last_applied_index() == target)
            .then_some(())
    })
    .await;
}

/// Waits until every node's image is `expected`.
async fn same_image_everywhere(nodes: &BTreeMap<u64, ControllerNode>, expected: &MetadataImage) {
    wait_for("every node to reach the same image", || async {
        nodes.values().all(|n| n.image() == *expected).then_some(())
    })
    .await;
}

/// Proposes through the active controller, retrying while leadership moves (NOT_CONTROLLER is
/// answered before anything is appended, so a retry cannot apply the command twice).
async fn propose(
    nodes: &BTreeMap<u64, ControllerNode>,
    command: C,
) -> Result<Outcome, ControllerError> {
    wait_for("the active controller to accept a proposal", || async {
        let leader = nodes.values().find(|n| n.is_active())?;
        match leader.propose(command.clone()).await {
            Ok(result) => Some(result),
            Err(QuorumError::NotController { .. }) => None,
            Err(e) => panic!("{command}: {e}"),
        }
    })
    .await
}

fn register(id: i32) -> C {
    C::RegisterBroker {
        broker_id: id,
        incarnation_id: 1,
        rack: None,
        listeners: Vec::new(),
        previous_broker_epoch: -1,
    }
}

fn create(name: &str, topic_id: u128) -> C {
    C::CreateTopic {
        name: name.into(),
        topic_id: TopicId(topic_id),
        partitions: 3,
        replication_factor: 3,
        assignment: None,
        configs: BTreeMap::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_commands_survive_leader_loss_and_restart() {
    let root = tempfile::tempdir().unwrap();
    let transport = Arc::new(InProcessTransport::new());
    let mut nodes = BTreeMap::new();
    for id in 1..=3 {
        nodes.insert(id, start(id, root.path(), &transport).await);
    }
    nodes[&1].bootstrap().await.unwrap();

    // A follower refuses proposals and names the active controller. (The command is harmless if
    // leadership moved and it was accepted after all: broker 99 is unknown.)
    let leader = leader_of(&nodes).await;
    let refused = wait_for("a follower to refuse a proposal", || async {
        let follower = nodes.values().find(|n| !n.is_active())?;
        match follower.propose(C::FenceBroker { broker_id: 99 }).await {
            Err(QuorumError::NotController { leader }) => Some(leader),
            _ => None,
        }
    })
    .await;
    assert!(refused.is_none() || refused == Some(leader) || leader_of(&nodes).await != leader);

    // Brokers register and unfence; a topic is created with RF 3.
    for broker in 1..=3 {
        let outcome = propose(&nodes, register(broker)).await.unwrap();
        let Outcome::BrokerRegistered { broker_epoch } = outcome else {
            panic!("{outcome:?}")
        };
        let beat = C::BrokerHeartbeat {
            broker_id: broker,
            broker_epoch,
            want_fence: false,
        };
        propose(&nodes, beat).await.unwrap();
    }
    let created = propose(&nodes, create("orders", 1)).await.unwrap();
    assert!(matches!(created, Outcome::TopicCreated { .. }));
    // A rejected command is committed too, and answered with its error.
    let again = propose(&nodes, create("orders", 2)).await;
    assert!(
        matches!(again, Err(ControllerError::TopicAlreadyExists { .. })),
        "{again:?}"
    );
    let leader = leader_of(&nodes).await;
    converged(&nodes, leader).await;

    // The active controller dies.
    transport.disconnect(leader);
    nodes.remove(&leader).unwrap().shutdown().await.unwrap();
    let new_leader = leader_of(&nodes).await;
    assert_ne!(new_leader, leader);
    // Every command committed before the loss is in the new active controller's image.
    let image = nodes[&new_leader].image();
    assert_eq!(image.brokers.len(), 3);
    assert_eq!(image.topics["orders"].partitions.len(), 3);
    propose(&nodes, create("payments", 3)).await.unwrap();

    // The old leader restarts from its files and catches up.
    nodes.insert(leader, start(leader, root.path(), &transport).await);
    let current = leader_of(&nodes).await;
    converged(&nodes, current).await;
    let expected = nodes[&current].image();
    assert!(expected.topics.contains_key("payments"));
    same_image_everywhere(&nodes, &expected).await;
    // Snapshots were taken (every 5 entries) and log entries purged behind them.
    let snapshots = (1..=3).filter(|id| {
        root.path()
            .join(format!("node-{id}/state/snapshot"))
            .exists()
    });
    assert!(snapshots.count() > 0);
    for (_, node) in nodes {
        node.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_quorum_restarts_from_its_files() {
    // Goal: every acknowledged command is on disk (log fsynced before acknowledging, snapshots
    // durable before purging). Method: commit commands, stop all three nodes, start them again
    // from the same directories, and compare images.
    let root = tempfile::tempdir().unwrap();
    let transport = Arc::new(InProcessTransport::new());
    let mut nodes = BTreeMap::new();
    for id in 1..=3 {
        nodes.insert(id, start(id, root.path(), &transport).await);
    }
    nodes[&1].bootstrap().await.unwrap();
    for broker in 1..=4 {
        propose(&nodes, register(broker)).await.unwrap();
    }
    propose(&nodes, C::FenceBroker { broker_id: 4 })
        .await
        .unwrap();
    let leader = leader_of(&nodes).await;
    let before = nodes[&leader].image();
    for (id, node) in std::mem::take(&mut nodes) {
        transport.disconnect(id);
        node.shutdown().await.unwrap();
    }
    for id in 1..=3 {
        nodes.insert(id, start(id, root.path(), &transport).await);
    }
    // A new leader commits a blank entry of its term, after which everything before it applies.
    leader_of(&nodes).await;
    same_image_everywhere(&nodes, &before).await;
    for (_, node) in nodes {
        node.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_voter_catches_up_from_a_snapshot() {
    // Goal: the InstallSnapshot path. Method: two of three voters form the quorum and commit more
    // entries than a snapshot covers, so their log prefix is purged; the third voter then starts
    // empty and can only catch up from the snapshot, then from the log after it.
    let root = tempfile::tempdir().unwrap();
    let transport = Arc::new(InProcessTransport::new());
    let mut nodes = BTreeMap::new();
    for id in 1..=2 {
        nodes.insert(id, start(id, root.path(), &transport).await);
    }
    nodes[&1].bootstrap().await.unwrap();
    for broker in 1..=12 {
        propose(&nodes, register(broker)).await.unwrap();
    }
    // Both voters have snapshotted and purged the start of their logs: whichever of them leads
    // when the third voter arrives (leadership may move on a loaded machine), it cannot send the
    // first entries any more.
    wait_for("a snapshot and a purge on both voters", || async {
        (1..=2)
            .all(|id| root.path().join(format!("node-{id}/log/purged")).exists())
            .then_some(())
    })
    .await;
    nodes.insert(3, start(3, root.path(), &transport).await);
    propose(&nodes, register(13)).await.unwrap();
    let leader = leader_of(&nodes).await;
    let expected = nodes[&leader].image();
    assert_eq!(expected.brokers.len(), 13);
    same_image_everywhere(&nodes, &expected).await;
    assert!(
        root.path().join("node-3/state/snapshot").exists(),
        "node 3 installed no snapshot"
    );
    for (_, node) in nodes {
        node.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voter_back_with_an_empty_folder_rejoins_the_quorum() {
    // Goal (F22): a voter that lost its files rejoins the existing quorum when it starts and
    // bootstraps as every node does, rather than forming one of its own. Method: three voters
    // commit, one is stopped and its files removed, then it starts empty, bootstraps, and must
    // reach the others' image. (The case the fault harness found, where the leader kept probing
    // at the follower's old matched index forever, shows over TCP: compat/faults with F22.)
    let root = tempfile::tempdir().unwrap();
    let transport = Arc::new(InProcessTransport::new());
    let mut nodes = BTreeMap::new();
    for id in 1..=3 {
        nodes.insert(id, start(id, root.path(), &transport).await);
    }
    for node in nodes.values() {
        node.bootstrap().await.unwrap();
    }
    for broker in 1..=3 {
        propose(&nodes, register(broker)).await.unwrap();
    }
    let leader = leader_of(&nodes).await;
    let victim = (1..=3).find(|id| *id != leader).unwrap();
    let stopped = nodes.remove(&victim).unwrap();
    transport.disconnect(victim);
    stopped.shutdown().await.unwrap();
    drop(stopped);
    std::fs::remove_dir_all(root.path().join(format!("node-{victim}"))).unwrap();
    let returned = start(victim, root.path(), &transport).await;
    returned.bootstrap().await.unwrap();
    nodes.insert(victim, returned);
    propose(&nodes, register(4)).await.unwrap();
    let leader = leader_of(&nodes).await;
    let expected = nodes[&leader].image();
    assert_eq!(expected.brokers.len(), 4);
    same_image_everywhere(&nodes, &expected).await;
    for (_, node) in nodes {
        node.shutdown().await.unwrap();
    }
}
