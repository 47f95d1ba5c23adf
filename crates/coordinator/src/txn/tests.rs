//! Unit tests of the transaction coordinator: the state machine as a client drives it, fencing,
//! retries, timeouts, expiration, and replay of the records it writes.

use protocol::ErrorCode;

use super::*;

const TXN: &str = "orders-1";

fn ids() -> impl FnMut() -> Result<i64, ErrorCode> {
    let mut next = 1000;
    move || {
        next += 1;
        Ok(next)
    }
}

fn coordinator() -> TransactionCoordinator {
    TransactionCoordinator::new(
        TxnConfig {
            transaction_max_timeout_ms: 60_000,
            transactional_id_expiration_ms: 3_600_000,
        },
        7,
    )
}

/// Applies every record of `effects` to a second coordinator, as a replay would.
fn replay_all(into: &mut TransactionCoordinator, effects: &TxnEffects) {
    if let Some(record) = &effects.record {
        into.replay(&record.key, record.value.as_deref()).unwrap();
    }
}

fn p(topic: &str, partition: i32) -> (String, i32) {
    (topic.to_string(), partition)
}

#[test]
fn a_transaction_commits_through_prepare_markers_and_complete() {
    let mut c = coordinator();
    let mut mirror = coordinator();
    let mut alloc = ids();
    let (answer, effects) = c.init_producer_id(TXN, 10_000, None, 0, &mut alloc);
    let producer = answer.unwrap();
    assert_eq!((producer.producer_id, producer.producer_epoch), (1001, 0));
    replay_all(&mut mirror, &effects);

    let (added, effects) = c.add_partitions(TXN, producer, &[p("t", 0), p("t", 1)], 5);
    added.unwrap();
    assert!(effects.record.is_some());
    replay_all(&mut mirror, &effects);
    // Adding the same partitions again writes nothing.
    let (again, effects) = c.add_partitions(TXN, producer, &[p("t", 1)], 6);
    again.unwrap();
    assert_eq!(effects, TxnEffects::default());
    assert_eq!(c.get(TXN).unwrap().state, TxnState::Ongoing);
    assert_eq!(c.get(TXN).unwrap().start_timestamp_ms, 5);

    let (ended, effects) = c.end_txn(TXN, producer, true, 0, 9);
    assert_eq!(ended.unwrap(), producer);
    assert_eq!(c.get(TXN).unwrap().state, TxnState::PrepareCommit);
    let job = effects.markers.clone().expect("markers to write");
    assert_eq!(job.partitions, vec![p("t", 0), p("t", 1)]);
    assert!(job.commit);
    assert_eq!(job.coordinator_epoch, 7);
    replay_all(&mut mirror, &effects);
    // While markers are written, the same EndTxn is told to wait, a different one refused.
    assert_eq!(
        c.end_txn(TXN, producer, true, 0, 10).0,
        Err(ErrorCode::ConcurrentTransactions)
    );
    assert_eq!(
        c.end_txn(TXN, producer, false, 0, 10).0,
        Err(ErrorCode::InvalidTxnState)
    );
    assert_eq!(
        c.add_partitions(TXN, producer, &[p("u", 0)], 10).0,
        Err(ErrorCode::ConcurrentTransactions)
    );
    let effects = c.markers_written(&job, 11);
    replay_all(&mut mirror, &effects);
    let done = c.get(TXN).unwrap();
    assert_eq!(done.state, TxnState::CompleteCommit);
    assert!(done.partitions.is_empty());
    // A retried commit succeeds without writing; the mirror rebuilt the same state.
    let (retry, effects) = c.end_txn(TXN, producer, true, 0, 12);
    assert!(retry.is_ok());
    assert_eq!(effects, TxnEffects::default());
    assert_eq!(
        mirror.get(TXN),
        c.get(TXN)
            .map(|m| {
                let mut m = m.clone();
                m.last_producer_epoch = NO_PRODUCER_EPOCH; // not stored, as in Kafka
                m
            })
            .as_ref()
    );
    // The next transaction starts from Complete*.
    c.add_partitions(TXN, producer, &[p("t", 2)], 20).0.unwrap();
    assert_eq!(c.get(TXN).unwrap().partitions.len(), 1);
    assert_eq!(c.get(TXN).unwrap().start_timestamp_ms, 20);
}

#[test]
fn a_new_producer_fences_the_old_one_and_aborts_its_transaction() {
    let mut c = coordinator();
    let mut alloc = ids();
    let old = c
        .init_producer_id(TXN, 10_000, None, 0, &mut alloc)
        .0
        .unwrap();
    c.add_partitions(TXN, old, &[p("t", 0)], 1).0.unwrap();
    // The new instance's InitProducerId aborts the ongoing transaction with a bumped epoch.
    let (answer, effects) = c.init_producer_id(TXN, 10_000, None, 2, &mut alloc);
    assert_eq!(answer, Err(ErrorCode::ConcurrentTransactions));
    let job = effects.markers.expect("abort markers");
    assert!(!job.commit);
    assert_eq!(job.producer_epoch, 1, "markers carry the bumped epoch");
    assert_eq!(c.get(TXN).unwrap().state, TxnState::PrepareAbort);
    // The old producer is fenced from now on.
    assert_eq!(
        c.end_txn(TXN, old, true, 0, 3).0,
        Err(ErrorCode::ProducerFenced)
    );
    assert_eq!(
        c.init_producer_id(TXN, 10_000, None, 3, &mut alloc).0,
        Err(ErrorCode::ConcurrentTransactions),
        "retried until the abort completed"
    );
    c.markers_written(&job, 4);
    let new = c
        .init_producer_id(TXN, 10_000, None, 5, &mut alloc)
        .0
        .unwrap();
    assert_eq!((new.producer_id, new.producer_epoch), (old.producer_id, 2));
    assert_eq!(
        c.add_partitions(TXN, old, &[p("t", 0)], 6).0,
        Err(ErrorCode::ProducerFenced)
    );
}

#[test]
fn kip_360_recovery_retries_and_epoch_exhaustion() {
    let mut c = coordinator();
    let mut alloc = ids();
    let first = c
        .init_producer_id(TXN, 10_000, None, 0, &mut alloc)
        .0
        .unwrap();
    // The producer re-initialises with its current id and epoch: a bump.
    let second = c
        .init_producer_id(TXN, 10_000, Some(first), 1, &mut alloc)
        .0
        .unwrap();
    assert_eq!(second.producer_epoch, first.producer_epoch + 1);
    // The same request again (its answer was lost): the same answer, no new record.
    let (retry, effects) = c.init_producer_id(TXN, 10_000, Some(first), 2, &mut alloc);
    assert_eq!(retry.unwrap(), second);
    assert_eq!(effects, TxnEffects::default());
    // An unknown producer id is fenced.
    let stranger = ProducerIdAndEpoch {
        producer_id: 5,
        producer_epoch: 0,
    };
    assert_eq!(
        c.init_producer_id(TXN, 10_000, Some(stranger), 3, &mut alloc)
            .0,
        Err(ErrorCode::ProducerFenced)
    );
    // At the last epoch the next bump takes a new producer id.
    let mut exhausted = c.get(TXN).unwrap().clone();
    exhausted.producer_epoch = i16::MAX - 1;
    let record = record_for(&exhausted);
    c.replay(&record.key, record.value.as_deref()).unwrap();
    let current = ProducerIdAndEpoch {
        producer_id: second.producer_id,
        producer_epoch: i16::MAX - 1,
    };
    let fresh = c
        .init_producer_id(TXN, 10_000, Some(current), 4, &mut alloc)
        .0
        .unwrap();
    assert_ne!(fresh.producer_id, second.producer_id);
    assert_eq!(fresh.producer_epoch, 0);
    assert_eq!(c.get(TXN).unwrap().previous_producer_id, second.producer_id);
    assert_eq!(
        c.init_producer_id(TXN, 0, None, 5, &mut alloc).0,
        Err(ErrorCode::InvalidTransactionTimeout)
    );
    assert_eq!(
        c.init_producer_id(TXN, 60_001, None, 5, &mut alloc).0,
        Err(ErrorCode::InvalidTransactionTimeout)
    );
}

#[test]
fn wrong_ids_epochs_and_states_are_refused_without_a_record() {
    let mut c = coordinator();
    let mut alloc = ids();
    let producer = c
        .init_producer_id(TXN, 10_000, None, 0, &mut alloc)
        .0
        .unwrap();
    let stale = ProducerIdAndEpoch {
        producer_epoch: producer.producer_epoch - 1,
        ..producer
    };
    let other = ProducerIdAndEpoch {
        producer_id: producer.producer_id + 1,
        ..producer
    };
    for (answer, effects) in [
        c.add_partitions("unknown", producer, &[p("t", 0)], 1),
        c.add_partitions(TXN, other, &[p("t", 0)], 1),
        c.add_partitions(TXN, stale, &[p("t", 0)], 1),
    ] {
        assert!(answer.is_err());
        assert_eq!(effects, TxnEffects::default());
    }
    assert_eq!(
        c.end_txn("unknown", producer, true, 0, 1).0,
        Err(ErrorCode::InvalidProducerIdMapping)
    );
    assert_eq!(
        c.end_txn(TXN, stale, true, 0, 1).0,
        Err(ErrorCode::ProducerFenced)
    );
    assert_eq!(
        c.end_txn(TXN, producer, true, 0, 1).0,
        Err(ErrorCode::InvalidTxnState),
        "nothing to commit"
    );
    assert_eq!(c.get(TXN).unwrap().state, TxnState::Empty);
    assert_eq!(
        c.verify_partitions(TXN, producer, &[p("t", 0)]),
        vec![ErrorCode::TransactionAbortable]
    );
    c.add_partitions(TXN, producer, &[p("t", 0)], 2).0.unwrap();
    assert_eq!(
        c.verify_partitions(TXN, producer, &[p("t", 0), p("t", 1)]),
        vec![ErrorCode::None, ErrorCode::TransactionAbortable]
    );
    assert_eq!(
        c.verify_partitions(TXN, stale, &[p("t", 0)]),
        vec![ErrorCode::ProducerFenced]
    );
}

#[test]
fn transactions_v2_bump_the_epoch_at_every_end() {
    let mut c = coordinator();
    let mut alloc = ids();
    let producer = c
        .init_producer_id(TXN, 10_000, None, 0, &mut alloc)
        .0
        .unwrap();
    c.add_partitions(TXN, producer, &[p("t", 0)], 1).0.unwrap();
    let (ended, effects) = c.end_txn(TXN, producer, true, 2, 2);
    let bumped = ended.unwrap();
    assert_eq!(bumped.producer_epoch, producer.producer_epoch + 1);
    let job = effects.markers.unwrap();
    assert_eq!(
        job.producer_epoch, bumped.producer_epoch,
        "markers fence the old epoch"
    );
    // A retry with the old epoch while markers are written waits; after, it is answered.
    assert_eq!(
        c.end_txn(TXN, producer, true, 2, 3).0,
        Err(ErrorCode::ConcurrentTransactions)
    );
    // So does an abort of the next, empty transaction at the new epoch (franz-go's group
    // session aborts on a rebalance right after a commit).
    assert_eq!(
        c.end_txn(TXN, bumped, false, 2, 3).0,
        Err(ErrorCode::ConcurrentTransactions)
    );
    c.markers_written(&job, 4);
    assert_eq!(c.end_txn(TXN, producer, true, 2, 5).0.unwrap(), bumped);
    // Committing at the new epoch with nothing in progress is refused (Kafka's answer), never
    // answered with the same epoch.
    assert_eq!(
        c.end_txn(TXN, bumped, true, 2, 6).0,
        Err(ErrorCode::InvalidTxnState)
    );
    // Aborting with nothing in progress is allowed in v2 and bumps the epoch too.
    let (aborted, effects) = c.end_txn(TXN, bumped, false, 2, 6);
    assert_eq!(aborted.unwrap().producer_epoch, bumped.producer_epoch + 1);
    assert!(effects.record.is_some() && effects.markers.is_none());
}

#[test]
fn timeouts_abort_with_a_fence_and_idle_ids_expire() {
    let mut c = coordinator();
    let mut alloc = ids();
    let producer = c
        .init_producer_id(TXN, 1_000, None, 0, &mut alloc)
        .0
        .unwrap();
    c.add_partitions(TXN, producer, &[p("t", 0)], 100)
        .0
        .unwrap();
    c.init_producer_id("idle", 1_000, None, 100, &mut alloc)
        .0
        .unwrap();
    assert_eq!(c.next_deadline(), Some(1_101));
    assert!(c.expire(1_100).is_empty(), "not past the timeout yet");
    let effects = c.expire(1_101);
    assert_eq!(effects.len(), 1);
    let job = effects[0].markers.clone().unwrap();
    assert!(!job.commit);
    assert_eq!(job.producer_epoch, producer.producer_epoch + 1);
    assert_eq!(
        c.end_txn(TXN, producer, true, 0, 1_102).0,
        Err(ErrorCode::ProducerFenced)
    );
    c.markers_written(&job, 1_103);
    assert_eq!(c.get(TXN).unwrap().state, TxnState::CompleteAbort);
    // An hour idle: both ids expire, each with a tombstone.
    let effects = c.expire(1_103 + 3_600_001);
    assert_eq!(effects.len(), 2);
    assert!(
        effects
            .iter()
            .all(|e| e.record.as_ref().unwrap().value.is_none())
    );
    assert!(c.is_empty());
    assert_eq!(c.next_deadline(), None);
}

#[test]
fn a_replayed_coordinator_resumes_unfinished_markers() {
    let mut c = coordinator();
    let mut alloc = ids();
    let mut log = Vec::new();
    let a = c.init_producer_id("a", 10_000, None, 0, &mut alloc);
    log.push(a.1.clone());
    let a = a.0.unwrap();
    let b = c.init_producer_id("b", 10_000, None, 0, &mut alloc);
    log.push(b.1.clone());
    let b = b.0.unwrap();
    log.push(c.add_partitions("a", a, &[p("t", 0)], 1).1);
    log.push(c.add_partitions("b", b, &[p("t", 1), p("u", 0)], 1).1);
    log.push(c.end_txn("a", a, true, 0, 2).1);
    log.push(c.end_txn("b", b, false, 0, 2).1);
    let mut reloaded = TransactionCoordinator::new(TxnConfig::default(), 8);
    for effects in &log {
        replay_all(&mut reloaded, effects);
    }
    let jobs = reloaded.finish_loading();
    assert_eq!(jobs.len(), 2);
    assert!(jobs[0].commit && jobs[0].partitions == vec![p("t", 0)]);
    assert!(!jobs[1].commit && jobs[1].partitions == vec![p("t", 1), p("u", 0)]);
    assert!(
        jobs.iter().all(|j| j.coordinator_epoch == 8),
        "the new coordinator's epoch"
    );
    for job in &jobs {
        reloaded.markers_written(job, 3);
    }
    assert_eq!(reloaded.get("a").unwrap().state, TxnState::CompleteCommit);
    assert_eq!(reloaded.get("b").unwrap().state, TxnState::CompleteAbort);
    assert_eq!(
        reloaded.list(&["CompleteAbort".into()], &[], -1, 3).len(),
        1
    );
    assert_eq!(reloaded.list(&[], &[a.producer_id], -1, 3).len(), 1);
    // Garbage is an error, not a panic.
    assert!(reloaded.replay(&[0], None).is_err());
    assert!(reloaded.replay(&[0, 9, 1], None).is_err());
}
