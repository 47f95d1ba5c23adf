//! ACLs and client quotas in a three-node cluster: bindings and quotas set through one node
//! reach every node through the controller's log, replication keeps working under the
//! authorizer (the inter-broker listener's principal is a super user, as Kafka's docs ask for a
//! PLAINTEXT inter-broker listener), a deletion made after a controller failover takes effect
//! everywhere, and the returning node catches up on it.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use protocol::ErrorCode;
use protocol::generated::alter_client_quotas_request::{EntityData, EntryData, OpData};
use protocol::generated::{AlterClientQuotasRequest, DescribeClientQuotasRequest};

use common::acl::*;
use common::cluster::{
    WAIT, free_port, partition_state, start_cluster_with, start_with, wait_metadata,
};
use common::produce::{batch, now_ms, produce};
use common::sasl::login;
use common::{TestClient, admin};

const JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required \
                    user_admin=\"admin-secret\" user_alice=\"alice-secret\";";

/// Each node's SASL_PLAINTEXT port for clients, beside the PLAINTEXT one brokers use.
fn sasl_settings(sasl_ports: &[u16], id: i32, ports: &[(u16, u16)]) -> Vec<(String, String)> {
    let (plain, controller) = ports[(id - 1) as usize];
    let sasl = sasl_ports[(id - 1) as usize];
    [
        (
            "listeners",
            format!(
                "PLAINTEXT://127.0.0.1:{plain},CONTROLLER://127.0.0.1:{controller},\
                 SASL_PLAINTEXT://127.0.0.1:{sasl}"
            ),
        ),
        ("sasl.enabled.mechanisms", "PLAIN".to_string()),
        (
            "listener.name.sasl_plaintext.plain.sasl.jaas.config",
            JAAS.to_string(),
        ),
        (
            "authorizer.class.name",
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer".to_string(),
        ),
        ("super.users", "User:admin;User:ANONYMOUS".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn sasl_addr(sasl_ports: &[u16], id: i32) -> SocketAddr {
    ([127, 0, 0, 1], sasl_ports[(id - 1) as usize]).into()
}

async fn produce_code(client: &mut TestClient, topic: &str) -> i16 {
    produce(client, 9, topic, 0, -1, batch(1, now_ms()).build().unwrap())
        .await
        .error_code
}

/// Produces as alice to the leader until the answer is `expected` (ACL changes reach a node
/// when it applies the metadata), for at most [`WAIT`].
async fn wait_produce(addr: SocketAddr, topic: &str, expected: ErrorCode) {
    let mut alice = login(addr, "alice", "alice-secret").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let code = produce_code(&mut alice, topic).await;
        if code == expected.code() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "alice's produce to {topic} at {addr}: {code}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until node `id` lists `expected` for alice.
async fn wait_listed(addr: SocketAddr, expected: &[(String, i8, i8)]) {
    let mut admin = login(addr, "admin", "admin-secret").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let listed = listed(&describe_acls(&mut admin, "User:alice").await);
        if listed == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr} lists {listed:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the node describes alice's producer quota.
async fn wait_quota(addr: SocketAddr) {
    let mut admin = login(addr, "admin", "admin-secret").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let response = expect_response!(
            admin.send(1, DescribeClientQuotasRequest::default()).await,
            DescribeClientQuotas
        );
        let values: Vec<(String, f64)> = response
            .entries
            .unwrap_or_default()
            .into_iter()
            .flat_map(|e| e.values)
            .map(|v| (v.key, v.value))
            .collect();
        if values == [("producer_byte_rate".to_string(), 1_048_576.0)] {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr} describes {values:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Goal: an ACL created through one node applies on the partition leader and is listed by
/// every node; acks=all writes replicate under the authorizer; an ACL deleted while the active
/// controller is down (through its successor) is gone on the survivors and, once the old
/// controller returns, on that node too; a client quota set meanwhile is described by every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_are_cluster_metadata_and_follow_nodes_through_a_restart() {
    let sasl_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let settings = |id: i32, ports: &[(u16, u16)]| sasl_settings(&sasl_ports, id, ports);
    let (ports, mut nodes) = start_cluster_with(&settings).await;
    let mut super_user = login(sasl_addr(&sasl_ports, 1), "admin", "admin-secret").await;
    let created = admin::create(&mut super_user, vec![admin::topic("t", 1, 3)], false).await;
    assert_eq!(created, vec![("t".to_string(), 0)]);
    let full = vec![1, 2, 3];
    let (leader, _) = wait_metadata(nodes[0].client_port, "t with a full ISR", |m| {
        partition_state(m, "t", 0).filter(|(l, isr)| *l >= 0 && *isr == full)
    })
    .await;
    let leader_addr = sasl_addr(&sasl_ports, leader);
    wait_produce(leader_addr, "t", ErrorCode::TopicAuthorizationFailed).await;

    // Granted through a node that does not lead the partition.
    let other = nodes.iter().find(|n| n.id != leader).unwrap().id;
    let mut other_admin = login(sasl_addr(&sasl_ports, other), "admin", "admin-secret").await;
    let grants = vec![
        grant(TOPIC, "t", LITERAL, "User:alice", WRITE),
        grant(GROUP, "app-", PREFIXED, "User:alice", READ),
    ];
    assert_eq!(create_acls(&mut other_admin, grants).await, vec![0, 0]);
    let both = vec![
        ("app-".to_string(), PREFIXED, READ),
        ("t".to_string(), LITERAL, WRITE),
    ];
    for node in &nodes {
        wait_listed(sasl_addr(&sasl_ports, node.id), &both).await;
    }
    // acks=all: the followers' fetches (PLAINTEXT, User:ANONYMOUS) are authorized too.
    wait_produce(leader_addr, "t", ErrorCode::None).await;

    // The active controller stops (a controller failover); the WRITE grant is deleted meanwhile.
    let stopped = wait_metadata(nodes[0].client_port, "an active controller", |m| {
        (m.controller_id > 0).then_some(m.controller_id)
    })
    .await;
    let index = (stopped - 1) as usize;
    nodes[index].running.take().unwrap().shutdown().await;
    let survivor = nodes.iter().find(|n| n.id != stopped).unwrap().id;
    let survivor_port = nodes[(survivor - 1) as usize].client_port;
    let (leader, _) = wait_metadata(survivor_port, "a new controller and a leader for t", |m| {
        let controller = m.controller_id > 0 && m.controller_id != stopped;
        partition_state(m, "t", 0).filter(|(l, _)| controller && *l >= 0 && *l != stopped)
    })
    .await;
    let leader_addr = sasl_addr(&sasl_ports, leader);
    let mut survivor_admin = login(sasl_addr(&sasl_ports, survivor), "admin", "admin-secret").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let deleted = loop {
        // Retried while the new controller takes over.
        let deleted = delete_acls(
            &mut survivor_admin,
            TOPIC,
            "t",
            LITERAL,
            "User:alice",
            WRITE,
        )
        .await;
        if deleted.error_code == 0 || tokio::time::Instant::now() > deadline {
            break deleted;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(deleted.error_code, 0, "{deleted:?}");
    assert_eq!(deleted.matching_acls.len(), 1);
    let group_only = vec![("app-".to_string(), PREFIXED, READ)];
    wait_listed(sasl_addr(&sasl_ports, survivor), &group_only).await;
    wait_produce(leader_addr, "t", ErrorCode::TopicAuthorizationFailed).await;

    // A quota set while the node is down.
    let quota = AlterClientQuotasRequest {
        entries: vec![EntryData {
            entity: vec![EntityData {
                entity_type: "user".into(),
                entity_name: Some("alice".into()),
                ..Default::default()
            }],
            ops: vec![OpData {
                key: "producer_byte_rate".into(),
                value: 1_048_576.0,
                remove: false,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let altered = expect_response!(survivor_admin.send(1, quota).await, AlterClientQuotas);
    assert_eq!(altered.entries[0].error_code, 0, "{altered:?}");

    // The stopped node returns and learns of the deletion and the quota.
    let restarted = start_with(
        stopped,
        &ports,
        nodes[index].dir.path(),
        &settings(stopped, &ports),
    )
    .await;
    nodes[index].running = Some(restarted);
    wait_listed(sasl_addr(&sasl_ports, stopped), &group_only).await;
    for node in &nodes {
        wait_quota(sasl_addr(&sasl_ports, node.id)).await;
    }

    for node in nodes {
        if let Some(running) = node.running {
            running.shutdown().await;
        }
    }
}
