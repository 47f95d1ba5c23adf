//! A dynamic controller quorum (KIP-853) over the Kafka protocol, in one process: node 1 formatted
//! standalone, node 2 a combined node joining through `controller.quorum.bootstrap.servers`, node
//! 3 a broker-only node that reaches the controllers the same way. AddRaftVoter and
//! RemoveRaftVoter sent to the broker-only node are forwarded to the active controller; their
//! checks answer Kafka's error codes; DescribeQuorum and ApiVersions show the result.

use broker::BrokerConfig;
use protocol::generated::add_raft_voter_request::Listener;
use protocol::generated::{AddRaftVoterRequest, ApiVersionsRequest, RemoveRaftVoterRequest};
use protocol::{ErrorCode, Uuid};

use crate::common::cluster::*;
use crate::expect_response;

/// (voters, observers) as (id, directory id) pairs, sorted.
type Replicas = Vec<(i32, Uuid)>;

async fn members(port: u16) -> Option<(Replicas, Replicas)> {
    let response = super::membership::describe(port, "__cluster_metadata").await;
    if response.error_code != 0 {
        return None;
    }
    let p = response.topics.first()?.partitions.first()?;
    let pairs = |list: &Vec<protocol::generated::describe_quorum_response::ReplicaState>| {
        let mut v: Vec<_> = list
            .iter()
            .map(|r| (r.replica_id, r.replica_directory_id))
            .collect();
        v.sort_unstable_by_key(|(id, _)| *id);
        v
    };
    Some((pairs(&p.current_voters), pairs(&p.observers)))
}

fn directory_id(dir: &std::path::Path) -> Uuid {
    let text = std::fs::read_to_string(dir.join("__cluster_metadata/meta.properties")).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("directory.id="))
        .unwrap();
    Uuid::parse(line.trim()).unwrap()
}

async fn add(port: u16, id: i32, directory: Uuid, controller_port: u16) -> (i16, Option<String>) {
    let request = AddRaftVoterRequest {
        cluster_id: None,
        timeout_ms: 30_000,
        voter_id: id,
        voter_directory_id: directory,
        listeners: vec![Listener {
            name: "CONTROLLER".into(),
            host: "127.0.0.1".into(),
            port: controller_port,
            ..Default::default()
        }],
        ack_when_committed: true,
        ..Default::default()
    };
    let response = expect_response!(client(port).await.send(1, request).await, AddRaftVoter);
    (response.error_code, response.error_message)
}

async fn remove(port: u16, id: i32, directory: Uuid) -> i16 {
    let request = RemoveRaftVoterRequest {
        cluster_id: None,
        voter_id: id,
        voter_directory_id: directory,
        ..Default::default()
    };
    expect_response!(client(port).await.send(0, request).await, RemoveRaftVoter).error_code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voters_change_through_a_broker_only_node() {
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let bootstrap = format!("127.0.0.1:{}", ports[0].1);
    let config = |id: usize, roles: &str, listeners: String| {
        let mut p = properties(1, &ports, dirs[id - 1].path());
        p.remove("controller.quorum.voters");
        p.insert(
            "controller.quorum.bootstrap.servers".into(),
            bootstrap.clone(),
        );
        p.insert("node.id".into(), id.to_string());
        p.insert("process.roles".into(), roles.into());
        p.insert("listeners".into(), listeners);
        p.insert("offsets.topic.replication.factor".into(), "1".into());
        BrokerConfig::from_properties(&p).expect("config")
    };
    let both = |id: usize| {
        format!(
            "PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}",
            ports[id - 1].0,
            ports[id - 1].1
        )
    };
    let first = config(1, "broker,controller", both(1));
    broker::cluster::controller_node::format(&first, true).unwrap();
    assert!(
        broker::cluster::controller_node::format(&first, true).is_err(),
        "formatting twice is refused"
    );
    let node1 = broker::run(first).await.unwrap();
    let node2 = broker::run(config(2, "broker,controller", both(2)))
        .await
        .unwrap();
    let node3 = broker::run(config(
        3,
        "broker",
        format!("PLAINTEXT://127.0.0.1:{}", ports[2].0),
    ))
    .await
    .unwrap();
    let (dir1, dir2) = (directory_id(dirs[0].path()), directory_id(dirs[1].path()));
    let broker_only = ports[2].0;

    // Node 1 votes; node 2 follows as an observer with its directory id.
    wait_metadata(broker_only, "every broker registered", |m| {
        (m.brokers.len() == 3).then_some(())
    })
    .await;
    let mut seen = None;
    for _ in 0..100 {
        seen = members(broker_only).await;
        if seen
            .as_ref()
            .is_some_and(|(v, o)| *v == [(1, dir1)] && o.contains(&(2, dir2)))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (voters, observers) = seen.expect("DescribeQuorum answered");
    assert_eq!(voters, [(1, dir1)], "{observers:?}");
    assert!(observers.contains(&(2, dir2)), "{observers:?}");

    // ApiVersions finalizes kraft.version 1.
    let versions = expect_response!(
        client(broker_only)
            .await
            .send(3, ApiVersionsRequest::default())
            .await,
        ApiVersions
    );
    assert!(
        versions
            .finalized_features
            .iter()
            .any(|f| f.name == "kraft.version" && f.max_version_level == 1),
        "{:?}",
        versions.finalized_features
    );

    // Bad input first: a zero directory id, no controller endpoint, another cluster id.
    let (code, _) = add(broker_only, 2, Uuid::ZERO, ports[1].1).await;
    assert_eq!(code, ErrorCode::InvalidRequest.code());
    let mut no_endpoint = AddRaftVoterRequest {
        cluster_id: None,
        voter_id: 2,
        voter_directory_id: dir2,
        ..Default::default()
    };
    no_endpoint.listeners.clear();
    let response = expect_response!(
        client(broker_only).await.send(1, no_endpoint).await,
        AddRaftVoter
    );
    assert_eq!(response.error_code, ErrorCode::InvalidRequest.code());
    let other_cluster = AddRaftVoterRequest {
        cluster_id: Some("another-cluster".into()),
        voter_id: 2,
        voter_directory_id: dir2,
        ..Default::default()
    };
    let response = expect_response!(
        client(broker_only).await.send(1, other_cluster).await,
        AddRaftVoter
    );
    assert_eq!(response.error_code, ErrorCode::InconsistentClusterId.code());

    // Node 2 becomes a voter; again is DUPLICATE_VOTER.
    let (code, message) = add(broker_only, 2, dir2, ports[1].1).await;
    assert_eq!(code, 0, "{message:?}");
    let (code, _) = add(broker_only, 2, dir2, ports[1].1).await;
    assert_eq!(code, ErrorCode::DuplicateVoter.code());
    let (voters, _) = members(broker_only).await.unwrap();
    assert_eq!(voters, [(1, dir1), (2, dir2)]);

    // Removing needs the exact key; the last voter stays.
    assert_eq!(
        remove(broker_only, 2, dir1).await,
        ErrorCode::VoterNotFound.code()
    );
    assert_eq!(remove(broker_only, 2, dir2).await, 0);
    assert_eq!(
        remove(broker_only, 1, dir1).await,
        ErrorCode::VoterNotFound.code()
    );
    let (voters, observers) = members(broker_only).await.unwrap();
    assert_eq!(voters, [(1, dir1)]);
    assert!(observers.contains(&(2, dir2)), "{observers:?}");

    node3.shutdown().await;
    node2.shutdown().await;
    node1.shutdown().await;
}
