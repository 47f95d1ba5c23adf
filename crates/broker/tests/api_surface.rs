//! The request surface as a client sees it: every API and version the broker advertises in
//! ApiVersions is answered (a response with the request's correlation id, decodable at that
//! version), and a request for an API it does not advertise closes the connection instead of
//! leaving the client waiting.
//!
//! Method: read the advertised ranges from ApiVersions, as clients do, then send each API at
//! each version with every field at its spec default (Produce with acks=1, so that it is
//! answered; Fetch without a wait).

mod common;

use std::time::Duration;

use protocol::generated::RequestHeader;
use protocol::{ApiKey, RequestBody};

use common::TestBroker;

const ANSWER_WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn every_advertised_api_and_version_is_answered() {
    let broker = TestBroker::start(&[]).await;
    let mut client = broker.client().await;
    let advertised = expect_response!(
        client
            .send(4, RequestBody::default_for(ApiKey::ApiVersions))
            .await,
        ApiVersions
    );
    assert!(advertised.api_keys.len() >= 30, "{advertised:?}");
    let mut answered = 0;
    for api in &advertised.api_keys {
        let key = ApiKey::from_i16(api.api_key).expect("an API the codec knows");
        for version in api.min_version..=api.max_version {
            let mut body = RequestBody::default_for(key);
            match &mut body {
                RequestBody::Produce(produce) => produce.acks = 1,
                RequestBody::Fetch(fetch) => fetch.max_wait_ms = 0,
                _ => {}
            }
            // A fresh connection each time: a refused request closes its connection.
            let mut client = broker.client().await;
            let response = tokio::time::timeout(ANSWER_WAIT, client.send(version, body))
                .await
                .unwrap_or_else(|_| panic!("{key:?} v{version}: no answer"));
            assert_eq!(response.api_key(), key, "{key:?} v{version}");
            answered += 1;
        }
    }
    assert!(answered >= 150, "only {answered} API versions answered");
    broker.shutdown().await;
}

#[tokio::test]
async fn an_api_that_is_not_advertised_closes_the_connection() {
    let broker = TestBroker::start(&[]).await;
    let mut client = broker.client().await;
    // BrokerHeartbeat: the codec knows it; it goes to a KRaft controller, never to a broker.
    let body = RequestBody::default_for(ApiKey::BrokerHeartbeat);
    let header = RequestHeader {
        request_api_key: ApiKey::BrokerHeartbeat as i16,
        request_api_version: 1,
        correlation_id: 1,
        client_id: Some("runnel-test".into()),
        ..Default::default()
    };
    client
        .send_raw(&protocol::encode_request(&header, &body).unwrap())
        .await;
    let answer = tokio::time::timeout(ANSWER_WAIT, client.read_frame())
        .await
        .expect("the connection is closed, not left open");
    assert!(answer.is_none(), "no response frame: {answer:?}");
    broker.shutdown().await;
}
