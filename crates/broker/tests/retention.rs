//! Retention as a client sees it: the broker's upkeep thread deletes closed segments past
//! `retention.ms`, and a `retention.ms` changed with IncrementalAlterConfigs takes effect on the
//! live partition, without a restart. Method: a broker with a 100 ms retention check, a topic
//! with 1 KiB segments, batches stamped an hour ago; the earliest offset (ListOffsets -2) moves
//! once retention applies.

mod common;

use std::time::{Duration, Instant};

use common::TestBroker;
use common::produce::{batch, create_topic, list_offset, now_ms, produce};
use protocol::ErrorCode;
use protocol::generated::IncrementalAlterConfigsRequest;
use protocol::generated::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};

const EARLIEST: i64 = -2;
const TOPIC_RESOURCE: i8 = 2;
const SET: i8 = 0;

#[tokio::test]
async fn retention_ms_altered_at_runtime_deletes_old_segments() {
    let broker = TestBroker::start(&[("log.retention.check.interval.ms", "100")]).await;
    create_topic(&broker, "aged", 1, &[("segment.bytes", "1024")]).await;
    let mut client = broker.client().await;
    let hour_ago = now_ms() - 3_600_000;
    for _ in 0..20 {
        let records = batch(5, hour_ago).build().unwrap();
        let response = produce(&mut client, 9, "aged", 0, -1, records).await;
        assert_eq!(response.error_code, ErrorCode::None.code());
    }
    // Default retention (7 days) keeps everything.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        list_offset(&mut client, 9, "aged", 0, EARLIEST)
            .await
            .offset,
        0
    );

    let alter = IncrementalAlterConfigsRequest {
        resources: vec![AlterConfigsResource {
            resource_type: TOPIC_RESOURCE,
            resource_name: "aged".into(),
            configs: vec![AlterableConfig {
                name: "retention.ms".into(),
                config_operation: SET,
                value: Some("60000".into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        validate_only: false,
        ..Default::default()
    };
    let response = expect_response!(client.send(1, alter).await, IncrementalAlterConfigs);
    assert_eq!(response.responses[0].error_code, ErrorCode::None.code());

    // Segments older than a minute go; the active segment stays, so some offsets remain.
    let deadline = Instant::now() + Duration::from_secs(20);
    let earliest = loop {
        let earliest = list_offset(&mut client, 9, "aged", 0, EARLIEST)
            .await
            .offset;
        if earliest > 0 || Instant::now() > deadline {
            break earliest;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(earliest > 0, "retention never moved the log start");
    let latest = list_offset(&mut client, 9, "aged", 0, -1).await.offset;
    assert_eq!(latest, 100);
    assert!(earliest < latest);
    broker.shutdown().await;
}
