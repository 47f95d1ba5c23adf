//! Tests of the pipeline against a scripted broker on 127.0.0.1:0: several requests are really
//! in flight at once, answers come back in order with their context, and a connection that fails
//! answers every request it holds exactly once.

use protocol::generated::api_versions_request::ApiVersionsRequest;
use protocol::generated::api_versions_response::{ApiVersion, ApiVersionsResponse};
use protocol::generated::produce_request::ProduceRequest;
use protocol::generated::produce_response::ProduceResponse;
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::ClientConfig;

#[test]
fn a_frame_is_its_size_then_the_request_the_codec_encodes() {
    let header = RequestHeader {
        request_api_key: ApiKey::ApiVersions as i16,
        request_api_version: 3,
        correlation_id: 7,
        client_id: Some("c".into()),
        ..Default::default()
    };
    let body: RequestBody = ApiVersionsRequest::default().into();
    let chunks = encode_frame(&header, &body).unwrap();
    let frame: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    let expected = protocol::encode_request(&header, &body).unwrap();
    assert_eq!(&frame[..4], &(expected.len() as i32).to_be_bytes());
    assert_eq!(&frame[4..], &expected[..]);
}

/// How the scripted broker answers Produce requests on a connection.
#[derive(Clone, Copy)]
enum Script {
    /// Holds its answers until this many requests have arrived, then answers each in order.
    HoldUntil(usize),
    /// Answers the first request, then closes the connection.
    AnswerOneThenClose,
    /// Answers with a correlation id one above the request's.
    WrongCorrelationId,
}

/// A broker that serves ApiVersions and answers Produce as `script` says; its address.
async fn scripted_broker(script: Script) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, script));
        }
    });
    address
}

async fn serve(mut stream: TcpStream, script: Script) {
    let mut held: Vec<Vec<u8>> = Vec::new();
    let mut produced = 0;
    loop {
        let mut size = [0u8; 4];
        if stream.read_exact(&mut size).await.is_err() {
            return;
        }
        let mut payload = vec![0u8; i32::from_be_bytes(size) as usize];
        stream.read_exact(&mut payload).await.unwrap();
        let request = protocol::decode_request(Bytes::from(payload)).unwrap();
        let (correlation_id, version) = (request.correlation_id(), request.api_version());
        let body: ResponseBody = match request.api_key() {
            ApiKey::ApiVersions => ApiVersionsResponse {
                api_keys: [(ApiKey::ApiVersions, 0, 4), (ApiKey::Produce, 3, 13)]
                    .iter()
                    .map(|&(api, min_version, max_version)| ApiVersion {
                        api_key: api as i16,
                        min_version,
                        max_version,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }
            .into(),
            ApiKey::Produce => ProduceResponse::default().into(),
            other => panic!("unexpected {other:?}"),
        };
        let is_produce = request.api_key() == ApiKey::Produce;
        let correlation_id = match script {
            Script::WrongCorrelationId if is_produce => correlation_id + 1,
            _ => correlation_id,
        };
        let answer = protocol::frame::encode_response(correlation_id, version, &body).unwrap();
        let mut frame = (answer.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&answer);
        if !is_produce {
            stream.write_all(&frame).await.unwrap();
            continue;
        }
        produced += 1;
        match script {
            Script::HoldUntil(count) => {
                held.push(frame);
                if produced >= count {
                    for frame in held.drain(..) {
                        stream.write_all(&frame).await.unwrap();
                    }
                }
            }
            Script::AnswerOneThenClose => {
                stream.write_all(&frame).await.unwrap();
                // Drain what else arrives until the client stops writing, then close.
                let _ = tokio::time::timeout(Duration::from_millis(200), async {
                    let mut sink = [0u8; 4096];
                    while stream.read(&mut sink).await.is_ok_and(|n| n > 0) {}
                })
                .await;
                return;
            }
            Script::WrongCorrelationId => stream.write_all(&frame).await.unwrap(),
        }
    }
}

/// A client of the scripted broker (node 1) and a pipeline to it.
async fn pipeline(script: Script, max_in_flight: usize) -> Pipeline<u32> {
    let address = scripted_broker(script).await;
    let mut client = Client::connect(ClientConfig {
        bootstrap_servers: vec![address.clone()],
        client_id: "pipeline-test".into(),
        request_timeout: Duration::from_secs(5),
        security: Default::default(),
    })
    .await
    .unwrap();
    client.brokers.insert(1, address);
    Pipeline::connect(&mut client, &[1], &[ApiKey::Produce], max_in_flight)
        .await
        .unwrap()
}

async fn send(pipeline: &mut Pipeline<u32>, context: u32) -> Result<(), ClientError> {
    let version = pipeline.version(1, ApiKey::Produce).unwrap();
    let body: RequestBody = ProduceRequest {
        acks: 1,
        timeout_ms: 1000,
        ..Default::default()
    }
    .into();
    pipeline
        .send(1, version, &body, Duration::ZERO, context)
        .await
}

#[tokio::test]
async fn requests_are_in_flight_together_and_answered_in_order() {
    // Goal: several requests are on the wire before any answer (the broker answers only once
    // it holds three: one request at a time would wait forever) and each answer comes back with
    // its own context. Method: the HoldUntil(3) broker, three sends, three answers.
    let mut pipeline = pipeline(Script::HoldUntil(3), 3).await;
    for context in 0..3 {
        assert!(pipeline.has_room(1));
        send(&mut pipeline, context).await.unwrap();
    }
    assert!(!pipeline.has_room(1), "the bound is reached");
    assert_eq!(pipeline.in_flight(), 3);
    let overflow = send(&mut pipeline, 9).await.unwrap_err();
    assert!(
        overflow.to_string().contains("already in flight"),
        "{overflow}"
    );
    for context in 0..3 {
        let answer = tokio::time::timeout(Duration::from_secs(5), pipeline.next_answer())
            .await
            .expect("answered while three were in flight")
            .unwrap();
        assert_eq!(answer.context, context);
        assert_eq!(answer.node, 1);
        assert!(matches!(answer.response, Ok(ResponseBody::Produce(_))));
        assert!(answer.answered_at >= answer.sent_at);
    }
    assert_eq!(pipeline.in_flight(), 0);
    assert!(pipeline.next_answer().await.is_none());
    assert!(pipeline.has_room(1));
}

#[tokio::test]
async fn a_failed_connection_answers_every_request_once() {
    // Goal: the invariant "every request sent gets exactly one answer" when the broker goes
    // away mid-pipeline. Method: a broker that answers one request and closes; three in flight.
    let mut pipeline = pipeline(Script::AnswerOneThenClose, 3).await;
    for context in 0..3 {
        send(&mut pipeline, context).await.unwrap();
    }
    let mut answers = Vec::new();
    while let Some(answer) = pipeline.next_answer().await {
        answers.push((answer.context, answer.response.is_ok()));
    }
    assert_eq!(answers, [(0, true), (1, false), (2, false)]);
    assert!(!pipeline.has_room(1), "a failed connection stays closed");
    let error = send(&mut pipeline, 3).await.unwrap_err();
    assert!(error.to_string().contains("connection closed"), "{error}");
    assert_eq!(pipeline.in_flight(), 0);
}

#[tokio::test]
async fn an_answer_to_another_request_is_an_error() {
    let mut pipeline = pipeline(Script::WrongCorrelationId, 2).await;
    send(&mut pipeline, 0).await.unwrap();
    let answer = pipeline.next_answer().await.unwrap();
    let error = answer.response.unwrap_err();
    assert!(
        matches!(error, ClientError::Correlation { got, expected, .. } if got == expected + 1),
        "{error}"
    );
    assert!(!pipeline.has_room(1));
}
