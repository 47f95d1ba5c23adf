//! Tests of the share-partition state machine: acquisition, acknowledgement, locks, the
//! delivery-count limit, the in-flight bound and the start offset's moves.

use std::sync::Arc;

use protocol::ErrorCode;

use super::*;

fn batch(base: i64, last: i64) -> BatchBounds {
    BatchBounds {
        base_offset: base,
        last_offset: last,
        is_control: false,
    }
}

fn ack(first: i64, last: i64, kind: AcknowledgeType) -> AcknowledgementBatch {
    AcknowledgementBatch {
        first_offset: first,
        last_offset: last,
        types: vec![kind],
    }
}

fn range(first: i64, last: i64, delivery_count: i16) -> AcquiredRange {
    AcquiredRange {
        first_offset: first,
        last_offset: last,
        delivery_count,
    }
}

fn member(name: &str) -> Arc<str> {
    Arc::from(name)
}

#[test]
fn two_members_never_hold_the_same_record() {
    let limits = SharePartitionLimits::default();
    let mut sp = SharePartition::new(0);
    let (a, b) = (member("a"), member("b"));
    assert_eq!(
        sp.acquire(&a, &[batch(0, 9)], 5, false, 0, &limits),
        vec![range(0, 4, 1)]
    );
    assert_eq!(sp.next_fetch_offset(&limits), Some(5));
    assert_eq!(
        sp.acquire(&b, &[batch(0, 9)], 100, false, 0, &limits),
        vec![range(5, 9, 1)]
    );
    // b may not acknowledge a's records; nothing changes.
    assert_eq!(
        sp.acknowledge("b", &[ack(0, 9, AcknowledgeType::Accept)], 0, &limits),
        Err(ErrorCode::InvalidRecordState)
    );
    assert_eq!(sp.record(7), Some((RecordState::Acquired, 1)));
    sp.acknowledge("a", &[ack(0, 4, AcknowledgeType::Accept)], 0, &limits)
        .unwrap();
    assert_eq!(sp.start_offset(), 5);
}

#[test]
fn whole_batches_may_exceed_max_records_but_never_start_a_new_batch() {
    let limits = SharePartitionLimits::default();
    let mut sp = SharePartition::new(0);
    let got = sp.acquire(
        &member("a"),
        &[batch(0, 3), batch(4, 7)],
        2,
        true,
        0,
        &limits,
    );
    assert_eq!(got, vec![range(0, 3, 1)]);
    assert_eq!(sp.end_offset(), 4);
}

#[test]
fn release_redelivers_with_a_higher_count_and_the_limit_archives() {
    let limits = SharePartitionLimits {
        delivery_count_limit: 2,
        ..Default::default()
    };
    let mut sp = SharePartition::new(10);
    let a = member("a");
    assert_eq!(
        sp.acquire(&a, &[batch(10, 10)], 10, false, 0, &limits),
        vec![range(10, 10, 1)]
    );
    sp.acknowledge("a", &[ack(10, 10, AcknowledgeType::Release)], 0, &limits)
        .unwrap();
    assert_eq!(sp.record(10), Some((RecordState::Available, 1)));
    assert_eq!(
        sp.acquire(&a, &[batch(10, 10)], 10, false, 0, &limits),
        vec![range(10, 10, 2)]
    );
    // The second release reaches the limit: archived, the start moves past it.
    sp.acknowledge("a", &[ack(10, 10, AcknowledgeType::Release)], 0, &limits)
        .unwrap();
    assert_eq!(sp.record(10), None);
    assert_eq!(sp.start_offset(), 11);
    assert!(
        sp.acquire(&a, &[batch(10, 10)], 10, false, 0, &limits)
            .is_empty()
    );
}

#[test]
fn reject_archives_and_accept_is_final() {
    let limits = SharePartitionLimits::default();
    let mut sp = SharePartition::new(0);
    let a = member("a");
    sp.acquire(&a, &[batch(0, 2)], 10, false, 0, &limits);
    sp.acknowledge(
        "a",
        &[AcknowledgementBatch {
            first_offset: 0,
            last_offset: 2,
            types: vec![
                AcknowledgeType::Accept,
                AcknowledgeType::Reject,
                AcknowledgeType::Release,
            ],
        }],
        0,
        &limits,
    )
    .unwrap();
    assert_eq!(sp.start_offset(), 2);
    assert_eq!(sp.record(2), Some((RecordState::Available, 1)));
    // Acknowledging an accepted (now gone) record again is refused, and so is a record never
    // delivered.
    assert_eq!(
        sp.acknowledge("a", &[ack(0, 0, AcknowledgeType::Accept)], 0, &limits),
        Err(ErrorCode::InvalidRecordState)
    );
    assert_eq!(
        sp.acknowledge("a", &[ack(2, 3, AcknowledgeType::Accept)], 0, &limits),
        Err(ErrorCode::InvalidRequest)
    );
    assert_eq!(sp.record(2), Some((RecordState::Available, 1)));
}

#[test]
fn an_expired_lock_makes_the_record_available_to_another_member() {
    let limits = SharePartitionLimits {
        lock_duration_ms: 1_000,
        ..Default::default()
    };
    let mut sp = SharePartition::new(0);
    sp.acquire(&member("a"), &[batch(0, 4)], 10, false, 0, &limits);
    assert_eq!(sp.next_lock_deadline(), Some(1_000));
    assert_eq!(sp.expire_locks(999, &limits), 0);
    assert_eq!(sp.expire_locks(1_000, &limits), 5);
    assert_eq!(
        sp.acquire(&member("b"), &[batch(0, 4)], 10, false, 1_000, &limits),
        vec![range(0, 4, 2)]
    );
    // a's late acknowledgement is refused: b holds the records now.
    assert_eq!(
        sp.acknowledge("a", &[ack(0, 4, AcknowledgeType::Accept)], 1_001, &limits),
        Err(ErrorCode::InvalidRecordState)
    );
}

#[test]
fn renew_restarts_the_lock() {
    let limits = SharePartitionLimits {
        lock_duration_ms: 1_000,
        ..Default::default()
    };
    let mut sp = SharePartition::new(0);
    sp.acquire(&member("a"), &[batch(0, 0)], 10, false, 0, &limits);
    sp.acknowledge("a", &[ack(0, 0, AcknowledgeType::Renew)], 900, &limits)
        .unwrap();
    assert_eq!(sp.expire_locks(1_500, &limits), 0);
    assert_eq!(sp.record(0), Some((RecordState::Acquired, 1)));
}

#[test]
fn a_member_leaving_releases_only_its_records() {
    let limits = SharePartitionLimits::default();
    let mut sp = SharePartition::new(0);
    sp.acquire(&member("a"), &[batch(0, 1)], 2, false, 0, &limits);
    sp.acquire(&member("b"), &[batch(0, 3)], 2, false, 0, &limits);
    assert_eq!(sp.release_member("a", &limits), 2);
    assert_eq!(sp.record(0), Some((RecordState::Available, 1)));
    assert_eq!(sp.record(2), Some((RecordState::Acquired, 1)));
}

#[test]
fn the_window_never_exceeds_the_record_lock_bound() {
    let limits = SharePartitionLimits {
        max_record_locks: 3,
        ..Default::default()
    };
    let mut sp = SharePartition::new(0);
    let got = sp.acquire(&member("a"), &[batch(0, 9)], 100, true, 0, &limits);
    assert_eq!(got, vec![range(0, 2, 1)]);
    assert_eq!(sp.next_fetch_offset(&limits), None);
    // Accepting the first frees one slot.
    sp.acknowledge("a", &[ack(0, 0, AcknowledgeType::Accept)], 0, &limits)
        .unwrap();
    assert_eq!(sp.next_fetch_offset(&limits), Some(3));
    assert_eq!(
        sp.acquire(&member("b"), &[batch(0, 9)], 100, true, 0, &limits),
        vec![range(3, 3, 1)]
    );
}

#[test]
fn control_batches_and_missing_offsets_are_archived_not_delivered() {
    let limits = SharePartitionLimits::default();
    let mut sp = SharePartition::new(0);
    let a = member("a");
    let batches = [
        batch(0, 1),
        BatchBounds {
            base_offset: 2,
            last_offset: 2,
            is_control: true,
        },
        batch(5, 6),
    ];
    let got = sp.acquire(&a, &batches, 100, false, 0, &limits);
    assert_eq!(got, vec![range(0, 1, 1), range(5, 6, 1)]);
    assert_eq!(sp.record(2), Some((RecordState::Archived, 0)));
    assert_eq!(sp.record(3), Some((RecordState::Archived, 0)));
    sp.acknowledge("a", &[ack(0, 1, AcknowledgeType::Accept)], 0, &limits)
        .unwrap();
    assert_eq!(sp.start_offset(), 5);
}

#[test]
fn malformed_acknowledgements_are_invalid_requests() {
    let limits = SharePartitionLimits::default();
    let mut sp = SharePartition::new(0);
    sp.acquire(&member("a"), &[batch(0, 3)], 10, false, 0, &limits);
    let two_types_for_four = AcknowledgementBatch {
        first_offset: 0,
        last_offset: 3,
        types: vec![AcknowledgeType::Accept, AcknowledgeType::Accept],
    };
    assert_eq!(
        sp.acknowledge("a", &[two_types_for_four], 0, &limits),
        Err(ErrorCode::InvalidRequest)
    );
    assert_eq!(
        sp.acknowledge("a", &[ack(3, 0, AcknowledgeType::Accept)], 0, &limits),
        Err(ErrorCode::InvalidRequest)
    );
    assert_eq!(sp.acquired(), 4);
}

#[test]
fn retention_moves_the_start_and_restore_keeps_done_records() {
    let limits = SharePartitionLimits::default();
    let mut sp = SharePartition::new(0);
    sp.acquire(&member("a"), &[batch(0, 5)], 10, false, 0, &limits);
    sp.acknowledge("a", &[ack(2, 3, AcknowledgeType::Accept)], 0, &limits)
        .unwrap();
    let ranges = sp.ranges();
    let restored = SharePartition::restore(sp.start_offset(), &ranges, &limits);
    assert_eq!(restored.record(0), Some((RecordState::Available, 1)));
    assert_eq!(restored.record(2), Some((RecordState::Acknowledged, 1)));
    assert_eq!(restored.end_offset(), 6);
    sp.truncate_before(4);
    assert_eq!(sp.start_offset(), 4);
    assert_eq!(sp.record(4), Some((RecordState::Acquired, 1)));
    sp.truncate_before(100);
    assert_eq!((sp.start_offset(), sp.in_flight()), (100, 0));
}
