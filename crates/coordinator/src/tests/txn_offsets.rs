//! Transactional offset commits: pending until the transaction's marker, visible after COMMIT,
//! gone after ABORT, UNSTABLE_OFFSET_COMMIT for `require_stable` fetches meanwhile, and the
//! same through a replay of the records and markers.

use protocol::ErrorCode;
use protocol::generated::offset_fetch_request::OffsetFetchRequestTopic;
use protocol::generated::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use protocol::generated::{OffsetFetchRequest, TxnOffsetCommitRequest};

use super::coordinator;
use crate::GroupCoordinator;

fn txn_commit(producer_id: i64, offset: i64) -> TxnOffsetCommitRequest {
    TxnOffsetCommitRequest {
        transactional_id: "tx".into(),
        group_id: "etl".into(),
        producer_id,
        producer_epoch: 3,
        generation_id_or_member_epoch: -1,
        member_id: String::new(),
        topics: vec![TxnOffsetCommitRequestTopic {
            name: "in".into(),
            partitions: vec![TxnOffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: offset,
                committed_leader_epoch: -1,
                committed_metadata: Some("m".into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// (offset, partition error code) of `in`-0 for group `etl`, with `require_stable`.
fn fetch(c: &GroupCoordinator, require_stable: bool) -> (i64, i16) {
    let request = OffsetFetchRequest {
        group_id: "etl".into(),
        topics: Some(vec![OffsetFetchRequestTopic {
            name: "in".into(),
            partition_indexes: vec![0],
            ..Default::default()
        }]),
        require_stable,
        ..Default::default()
    };
    let response = c.offset_fetch(7, &request);
    let p = &response.topics[0].partitions[0];
    (p.committed_offset, p.error_code)
}

#[test]
fn offsets_of_a_transaction_are_visible_only_after_its_commit_marker() {
    let mut c = coordinator();
    let outcome = c.txn_offset_commit(10, &txn_commit(7, 42));
    assert_eq!(outcome.response.topics[0].partitions[0].error_code, 0);
    assert_eq!((outcome.producer_id, outcome.producer_epoch), (7, 3));
    assert_eq!(outcome.records.len(), 1);
    assert_eq!(
        fetch(&c, false),
        (-1, 0),
        "pending offsets are not committed yet"
    );
    assert_eq!(fetch(&c, true).1, ErrorCode::UnstableOffsetCommit.code());
    c.complete_transaction(7, true);
    assert_eq!(fetch(&c, true), (42, 0));

    // An aborted transaction's offsets are dropped; the committed one stays.
    c.txn_offset_commit(20, &txn_commit(7, 99));
    c.complete_transaction(7, false);
    assert_eq!(fetch(&c, true), (42, 0));
    // Another producer's marker does not decide this producer's offsets.
    c.txn_offset_commit(30, &txn_commit(8, 50));
    c.complete_transaction(7, true);
    assert_eq!(fetch(&c, true).1, ErrorCode::UnstableOffsetCommit.code());
}

#[test]
fn a_replay_keeps_transactional_offsets_pending_until_their_marker() {
    let mut c = coordinator();
    let committed = c.txn_offset_commit(10, &txn_commit(7, 42)).records;
    let aborted = c.txn_offset_commit(10, &txn_commit(8, 77)).records;
    let mut replayed = coordinator();
    for record in &committed {
        replayed
            .replay_transactional(7, &record.key, record.value.as_deref())
            .unwrap();
    }
    for record in &aborted {
        replayed
            .replay_transactional(8, &record.key, record.value.as_deref())
            .unwrap();
    }
    assert_eq!(fetch(&replayed, false), (-1, 0));
    replayed.complete_transaction(8, false);
    replayed.complete_transaction(7, true);
    assert_eq!(fetch(&replayed, true), (42, 0));
}

#[test]
fn bad_transactional_commits_are_refused_without_records() {
    let mut c = coordinator();
    let mut bad = txn_commit(-1, 1);
    let outcome = c.txn_offset_commit(0, &bad);
    assert_eq!(
        outcome.response.topics[0].partitions[0].error_code,
        ErrorCode::InvalidProducerIdMapping.code()
    );
    assert!(outcome.records.is_empty());
    bad = txn_commit(7, 1);
    bad.generation_id_or_member_epoch = 4;
    let outcome = c.txn_offset_commit(0, &bad);
    assert_eq!(
        outcome.response.topics[0].partitions[0].error_code,
        ErrorCode::IllegalGeneration.code(),
        "a generation for a group that does not exist"
    );
    assert!(outcome.records.is_empty());
    bad = txn_commit(7, 1);
    bad.group_id = String::new();
    assert_eq!(
        c.txn_offset_commit(0, &bad).response.topics[0].partitions[0].error_code,
        ErrorCode::InvalidGroupId.code()
    );
}
