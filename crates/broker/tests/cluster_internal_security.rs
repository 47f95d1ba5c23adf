//! Security between the nodes of a three-node cluster: the controller listener is mutual TLS
//! (a node without a certificate from the cluster's CA cannot reach the quorum), brokers
//! replicate over a SASL_SSL inter-broker listener as `User:broker`, and a client without the
//! cluster's credentials cannot fetch as a follower or write transaction markers. The
//! controller listener's certificate is reloaded when its file changes.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use protocol::generated::fetch_request::{FetchPartition, FetchTopic};
use protocol::generated::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use protocol::generated::{FetchRequest, WriteTxnMarkersRequest};
use protocol::{ErrorCode, ResponseBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::admin;
use common::cluster::{WAIT, client, free_port, partition_state, start_cluster_with};
use common::produce::{batch, now_ms, produce};
use common::sasl::login;

const CLIENT_JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required \
                           user_admin=\"admin-secret\" user_alice=\"alice-secret\";";
const INTERNAL_JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required \
                             username=\"broker\" password=\"broker-secret\" \
                             user_broker=\"broker-secret\";";

/// Per node: PLAINTEXT (the harness's polling, `User:ANONYMOUS`), CONTROLLER as SSL, INTERNAL
/// as SASL_SSL for replication, SASL_PLAINTEXT for the test's admin.
fn settings(
    id: i32,
    ports: &[(u16, u16)],
    extra_ports: &[(u16, u16)],
    ca: &str,
    node: &str,
) -> Vec<(String, String)> {
    let (plain, controller) = ports[(id - 1) as usize];
    let (internal, sasl) = extra_ports[(id - 1) as usize];
    [
        (
            "listeners",
            format!(
                "PLAINTEXT://127.0.0.1:{plain},CONTROLLER://127.0.0.1:{controller},\
                 INTERNAL://127.0.0.1:{internal},SASL_PLAINTEXT://127.0.0.1:{sasl}"
            ),
        ),
        (
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT,CONTROLLER:SSL,INTERNAL:SASL_SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"
                .to_string(),
        ),
        ("inter.broker.listener.name", "INTERNAL".to_string()),
        ("sasl.mechanism.inter.broker.protocol", "PLAIN".to_string()),
        (
            "listener.name.internal.sasl.enabled.mechanisms",
            "PLAIN".to_string(),
        ),
        (
            "listener.name.internal.plain.sasl.jaas.config",
            INTERNAL_JAAS.to_string(),
        ),
        (
            "listener.name.sasl_plaintext.sasl.enabled.mechanisms",
            "PLAIN".to_string(),
        ),
        (
            "listener.name.sasl_plaintext.plain.sasl.jaas.config",
            CLIENT_JAAS.to_string(),
        ),
        ("ssl.keystore.location", node.to_string()),
        ("ssl.truststore.location", ca.to_string()),
        (
            "authorizer.class.name",
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer".to_string(),
        ),
        ("super.users", "User:admin;User:broker".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Whether a plaintext frame sent to the controller listener gets any answer (it must not:
/// the listener only speaks TLS with a client certificate).
async fn controller_answers_plaintext(addr: SocketAddr) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let body = br#""Probe""#;
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(body);
    if stream.write_all(&frame).await.is_err() {
        return false;
    }
    let mut reply = [0u8; 4];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut reply)).await;
    // A TLS server answers a non-TLS frame with a TLS alert record (0x15) at most, never a
    // controller reply.
    matches!(read, Ok(Ok(_))) && reply[0] != 0x15
}

/// Goal: with mutual TLS on the controller listener and SASL_SSL between brokers, the cluster
/// forms, acks=all writes replicate (the followers authenticate as `User:broker`), a plaintext
/// peer gets nothing from the controller listener, and an unauthenticated client's follower
/// fetch and transaction markers are refused (TOPIC_ / CLUSTER_AUTHORIZATION_FAILED).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_authenticate_each_other_and_outsiders_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (test_ca, ca, node) = common::pki::write_with_ca(dir.path());
    let extra_ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let per_node = |id: i32, ports: &[(u16, u16)]| settings(id, ports, &extra_ports, &ca, &node);
    let (ports, nodes) = start_cluster_with(&per_node).await;
    let sasl =
        |id: i32| -> SocketAddr { ([127, 0, 0, 1], extra_ports[(id - 1) as usize].1).into() };

    let mut admin_client = login(sasl(1), "admin", "admin-secret").await;
    let created = admin::create(&mut admin_client, vec![admin::topic("t", 1, 3)], false).await;
    assert_eq!(created, vec![("t".to_string(), 0)]);
    let full = vec![1, 2, 3];
    let leader = {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let response = common::cluster::metadata(&mut admin_client).await;
            if let Some((leader, isr)) = partition_state(&response, "t", 0)
                && leader >= 0
                && isr == full
            {
                break leader;
            }
            assert!(tokio::time::Instant::now() < deadline, "{response:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let mut producer = login(sasl(leader), "admin", "admin-secret").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let answer = produce(
            &mut producer,
            9,
            "t",
            0,
            -1,
            batch(3, now_ms()).build().unwrap(),
        )
        .await;
        if answer.error_code == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "acks=all: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    common::cluster::wait_log_ends(&nodes, "t", 0, 3).await;

    let controller_port = ports[0].1;
    assert!(!controller_answers_plaintext(([127, 0, 0, 1], controller_port).into()).await);

    // An outsider on the plaintext listener (User:ANONYMOUS): no follower fetch, no markers.
    let mut outsider = client(nodes[(leader - 1) as usize].client_port).await;
    let fetch = FetchRequest {
        replica_id: 2,
        max_wait_ms: 0,
        max_bytes: 1 << 20,
        topics: vec![FetchTopic {
            topic: "t".into(),
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: 0,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let ResponseBody::Fetch(answer) = outsider.send(12, fetch).await else {
        panic!("not a fetch response");
    };
    assert_eq!(
        answer.responses[0].partitions[0].error_code,
        ErrorCode::TopicAuthorizationFailed.code()
    );
    let markers = WriteTxnMarkersRequest {
        markers: vec![WritableTxnMarker {
            producer_id: 1,
            producer_epoch: 0,
            transaction_result: true,
            topics: vec![WritableTxnMarkerTopic {
                name: "t".into(),
                partition_indexes: vec![0],
                ..Default::default()
            }],
            coordinator_epoch: 0,
            ..Default::default()
        }],
        ..Default::default()
    };
    let ResponseBody::WriteTxnMarkers(answer) = outsider.send(1, markers).await else {
        panic!("not a WriteTxnMarkers response");
    };
    assert_eq!(
        answer.markers[0].topics[0].partitions[0].error_code,
        ErrorCode::ClusterAuthorizationFailed.code()
    );

    // The controller listener's certificate is rotated in place: new connections get the new
    // one within seconds, and the quorum keeps working.
    let (rotated, rotated_der) = test_ca.issue("runnel-node-rotated");
    let staging = dir.path().join("node.pem.new");
    std::fs::write(&staging, rotated).unwrap();
    std::fs::rename(&staging, &node).unwrap();
    let controller: SocketAddr = ([127, 0, 0, 1], controller_port).into();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let presented = controller_certificate(controller, &ca, &node).await;
        if presented.as_deref() == Some(&rotated_der[..]) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the controller listener still presents its old certificate"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let created = admin::create(&mut admin_client, vec![admin::topic("after", 1, 3)], false).await;
    assert_eq!(created, vec![("after".to_string(), 0)]);

    for node in nodes {
        if let Some(running) = node.running {
            running.shutdown().await;
        }
    }
}

/// The certificate the controller listener at `addr` presents to a client with the node
/// key store `node`, trusting `ca` (`None` when the handshake fails).
async fn controller_certificate(addr: SocketAddr, ca: &str, node: &str) -> Option<Vec<u8>> {
    let get = |key: &str| match key {
        "ssl.keystore.location" => Some(node.to_string()),
        "ssl.truststore.location" => Some(ca.to_string()),
        _ => None,
    };
    let config = security::tls::TlsSettings::from_config(&get)
        .and_then(|settings| settings.client_config())
        .ok()?;
    let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("127.0.0.1").ok()?;
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .ok()?;
    let presented = stream.get_ref().1.peer_certificates()?.first()?;
    Some(presented.to_vec())
}
