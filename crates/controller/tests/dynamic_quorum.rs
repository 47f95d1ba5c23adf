//! A dynamic metadata quorum (KIP-853) in one process: controllers with their files in
//! temporary directories on the in-process transport, one formed standalone, the others joining
//! as observers through a bootstrap server, then added and removed as voters with KRaft's
//! checks; and the guard that keeps a voter come back with an empty folder from voting.
//!
//! Waits poll with a bound; the one wait that expects nothing to happen (no leader is elected
//! with the guarded voter's help) spans many election timeouts and is followed by the check of
//! what a user would lose: a committed command.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use controller::raft::ControllerRequest;
use controller::{
    ActiveController, ControllerConfig, ControllerError, ControllerNode, DynamicQuorum,
    InProcessTransport, MetadataCommand as C, MetadataQuorum, QuorumError, VoterNode, bootstrap_id,
};

const WAIT: Duration = Duration::from_secs(15);
const CHANGE_TIMEOUT: Duration = Duration::from_secs(15);

fn address(id: u64) -> String {
    format!("127.0.0.1:{}", 9092 + id)
}

fn config_at(
    id: u64,
    root: &Path,
    directory: &str,
    standalone: bool,
    addr: &str,
) -> ControllerConfig {
    let mut config = ControllerConfig::new(id, BTreeMap::new(), root.join(format!("node-{id}")));
    config.election_timeout_ms_min = 150;
    config.election_timeout_ms_max = 300;
    config.heartbeat_interval_ms = 50;
    let node = VoterNode {
        addr: addr.to_string(),
        directory_id: Some(directory.to_string()),
    };
    config.dynamic = Some(DynamicQuorum {
        directory_id: directory.to_string(),
        address: node.addr.clone(),
        bootstrap: vec![bootstrap_id(0)],
        initial_voters: if standalone {
            BTreeMap::from([(id, node)])
        } else {
            BTreeMap::new()
        },
    });
    config
}

struct Quorum {
    root: tempfile::TempDir,
    transport: Arc<InProcessTransport>,
    nodes: BTreeMap<u64, ControllerNode>,
}

impl Quorum {
    /// Node 1 formed standalone (and reachable as bootstrap server 0).
    async fn standalone() -> Self {
        let mut quorum = Quorum {
            root: tempfile::tempdir().unwrap(),
            transport: Arc::new(InProcessTransport::new()),
            nodes: BTreeMap::new(),
        };
        quorum.start(1, "dir-1", true).await;
        quorum
    }

    async fn start(&mut self, id: u64, directory: &str, standalone: bool) {
        self.start_at(id, directory, standalone, &address(id)).await;
    }

    async fn start_at(&mut self, id: u64, directory: &str, standalone: bool, addr: &str) {
        let node = ControllerNode::start(
            config_at(id, self.root.path(), directory, standalone, addr),
            Arc::clone(&self.transport),
        )
        .await
        .unwrap();
        self.transport.connect(&node);
        node.bootstrap().await.unwrap();
        self.nodes.insert(id, node);
        self.route_bootstrap();
    }

    /// Bootstrap server 0 is node 1 while it runs, else the lowest running node.
    fn route_bootstrap(&self) {
        if let Some(node) = self.nodes.values().next() {
            self.transport
                .register_as(bootstrap_id(0), node.service().clone());
        }
    }

    async fn stop(&mut self, id: u64) {
        let node = self.nodes.remove(&id).unwrap();
        self.transport.disconnect(id);
        node.shutdown().await.unwrap();
        self.route_bootstrap();
    }

    async fn leader(&self) -> u64 {
        wait_for("an active controller", || async {
            self.nodes
                .values()
                .find(|n| n.is_active())
                .map(ControllerNode::node_id)
        })
        .await
    }

    async fn change(&self, request: ControllerRequest) -> Result<(), ControllerError> {
        let leader = self.leader().await;
        self.nodes[&leader]
            .change_voters(request, CHANGE_TIMEOUT)
            .await
            .unwrap()
    }

    async fn add(&self, id: u64, directory: &str) -> Result<(), ControllerError> {
        self.change(ControllerRequest::AddVoter {
            id,
            directory_id: directory.into(),
        })
        .await
    }

    async fn remove(&self, id: u64, directory: &str) -> Result<(), ControllerError> {
        self.change(ControllerRequest::RemoveVoter {
            id,
            directory_id: directory.into(),
        })
        .await
    }

    /// Waits until the leader's membership holds `id` under `directory`.
    async fn member(&self, id: u64, directory: &str) {
        wait_for("the observer to join", || async {
            let leader = self.nodes.values().find(|n| n.is_active())?;
            let (members, _) = leader.members();
            (members.get(&id)?.directory_id.as_deref() == Some(directory)).then_some(())
        })
        .await;
    }

    async fn voters(&self) -> Vec<u64> {
        let leader = self.leader().await;
        self.nodes[&leader].members().1.into_iter().collect()
    }

    async fn propose(&self, command: C) {
        wait_for("the active controller to accept a proposal", || async {
            let leader = self.nodes.values().find(|n| n.is_active())?;
            match leader.propose(command.clone()).await {
                Ok(result) => Some(result.unwrap()),
                Err(QuorumError::NotController { .. }) => None,
                Err(e) => panic!("{command}: {e}"),
            }
        })
        .await;
    }
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

fn register(id: i32) -> C {
    C::RegisterBroker {
        broker_id: id,
        incarnation_id: 1,
        rack: None,
        listeners: Vec::new(),
        previous_broker_epoch: -1,
    }
}

/// Node 1 standalone, nodes 2 and 3 joined and added: three voters.
async fn three_voters() -> Quorum {
    let mut quorum = Quorum::standalone().await;
    for id in [2, 3] {
        quorum.start(id, &format!("dir-{id}"), false).await;
        quorum.member(id, &format!("dir-{id}")).await;
        quorum.add(id, &format!("dir-{id}")).await.unwrap();
    }
    quorum
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observers_join_and_become_voters_with_kraft_checks() {
    let mut quorum = Quorum::standalone().await;
    assert_eq!(quorum.leader().await, 1);
    quorum.propose(register(1)).await;
    quorum.start(2, "dir-2", false).await;
    quorum.member(2, "dir-2").await;
    assert!(!quorum.nodes[&2].may_vote(), "an observer does not vote");
    assert_eq!(quorum.voters().await, vec![1]);

    // Only the exact observer key is added, once.
    let refused = quorum.add(2, "dir-other").await.unwrap_err();
    assert!(
        matches!(refused, ControllerError::VoterChangeNotReady { .. }),
        "{refused}"
    );
    quorum.add(2, "dir-2").await.unwrap();
    let duplicate = quorum.add(2, "dir-2").await.unwrap_err();
    assert!(
        matches!(duplicate, ControllerError::DuplicateVoter { id: 2 }),
        "{duplicate}"
    );
    assert_eq!(quorum.voters().await, vec![1, 2]);
    wait_for("the new voter to vote", || async {
        quorum.nodes[&2].may_vote().then_some(())
    })
    .await;

    // The joined controllers follow the log.
    quorum.start(3, "dir-3", false).await;
    quorum.member(3, "dir-3").await;
    quorum.add(3, "dir-3").await.unwrap();
    quorum.propose(register(2)).await;
    wait_for("every controller to apply the log", || async {
        quorum
            .nodes
            .values()
            .all(|n| n.image().brokers.len() == 2)
            .then_some(())
    })
    .await;

    // Removing needs the exact key and never removes the last voter.
    let wrong = quorum.remove(3, "dir-2").await.unwrap_err();
    assert!(
        matches!(wrong, ControllerError::VoterNotFound { .. }),
        "{wrong}"
    );
    quorum.remove(3, "dir-3").await.unwrap();
    assert_eq!(quorum.voters().await, vec![1, 2]);
    wait_for("the removed voter to stop voting", || async {
        (!quorum.nodes[&3].may_vote()).then_some(())
    })
    .await;

    // The leader removes itself: it steps down and another voter leads.
    quorum.remove(1, "dir-1").await.unwrap();
    wait_for("a new leader", || async {
        quorum.nodes[&2].is_active().then_some(())
    })
    .await;
    quorum.propose(register(3)).await;
    let last = quorum.remove(2, "dir-2").await.unwrap_err();
    assert!(
        matches!(last, ControllerError::VoterNotFound { .. }),
        "{last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_quorum_refuses_voter_changes() {
    let root = tempfile::tempdir().unwrap();
    let transport = Arc::new(InProcessTransport::new());
    let voters = BTreeMap::from([(1, "127.0.0.1:9093".to_string())]);
    let mut config = ControllerConfig::new(1, voters, root.path().join("node-1"));
    config.election_timeout_ms_min = 150;
    config.election_timeout_ms_max = 300;
    config.heartbeat_interval_ms = 50;
    let node = ControllerNode::start(config, Arc::clone(&transport))
        .await
        .unwrap();
    transport.connect(&node);
    node.bootstrap().await.unwrap();
    wait_for("the active controller", || async {
        node.is_active().then_some(())
    })
    .await;
    let request = ControllerRequest::AddVoter {
        id: 2,
        directory_id: "dir-2".into(),
    };
    let refused = node.change_voters(request, CHANGE_TIMEOUT).await.unwrap();
    assert!(
        matches!(refused, Err(ControllerError::StaticQuorum)),
        "{refused:?}"
    );
    assert!(node.may_vote(), "a static voter votes");
}

/// The guard (KIP-853): a voter back with an empty folder must not help elect a leader that
/// misses a committed command. Command X is committed by nodes 1 and 3 while node 2 is cut
/// off; node 3 loses its folder and node 1 stops. Node 2 (without X) and the new node 3 are
/// left: with the guard no leader is elected; once node 1 is back, X is everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voter_back_with_an_empty_folder_cannot_elect_a_stale_leader() {
    let mut quorum = three_voters().await;
    assert_eq!(quorum.leader().await, 1);
    quorum.propose(register(1)).await;
    wait_for("every controller to apply the log", || async {
        quorum
            .nodes
            .values()
            .all(|n| n.image().brokers.len() == 1)
            .then_some(())
    })
    .await;

    // Cut node 2 off; X commits on nodes 1 and 3.
    quorum.transport.disconnect(2);
    quorum.propose(register(7)).await;
    wait_for("node 3 to apply X", || async {
        quorum.nodes[&3]
            .image()
            .brokers
            .contains_key(&7)
            .then_some(())
    })
    .await;
    assert!(!quorum.nodes[&2].image().brokers.contains_key(&7));

    // Node 3 loses its folder, node 1 stops; node 2 is reachable again.
    quorum.stop(3).await;
    std::fs::remove_dir_all(quorum.root.path().join("node-3")).unwrap();
    quorum.stop(1).await;
    quorum.transport.connect(&quorum.nodes[&2]);
    quorum.start(3, "dir-3-new", false).await;
    assert!(!quorum.nodes[&3].may_vote());

    // Many election timeouts (150-300 ms): no leader may come out of nodes 2 and 3.
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            quorum.nodes.values().all(|n| !n.is_active()),
            "a leader was elected with the vote of a controller that lost its folder"
        );
    }

    // Node 1 comes back: X was never lost.
    quorum.start(1, "dir-1", false).await;
    wait_for("X on every controller", || async {
        quorum
            .nodes
            .values()
            .all(|n| n.image().brokers.contains_key(&7))
            .then_some(())
    })
    .await;

    // The operator's way back: remove the old key, let it join, add the new one.
    quorum.remove(3, "dir-3").await.unwrap();
    quorum.member(3, "dir-3-new").await;
    quorum.add(3, "dir-3-new").await.unwrap();
    wait_for("node 3 to vote again", || async {
        quorum.nodes[&3].may_vote().then_some(())
    })
    .await;
}

/// A voter back with its folder at another address keeps its vote and the membership learns
/// where it listens now (what KRaft's UpdateRaftVoter does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voter_that_moved_is_found_at_its_new_address() {
    let mut quorum = three_voters().await;
    quorum.stop(3).await;
    quorum.start_at(3, "dir-3", false, "127.0.0.9:7777").await;
    wait_for("the new address in the membership", || async {
        let leader = quorum.nodes.values().find(|n| n.is_active())?;
        let (members, voters) = leader.members();
        (members.get(&3)?.addr == "127.0.0.9:7777" && voters.contains(&3)).then_some(())
    })
    .await;
    wait_for("node 3 to vote", || async {
        quorum.nodes[&3].may_vote().then_some(())
    })
    .await;
    quorum.propose(register(5)).await;
}
