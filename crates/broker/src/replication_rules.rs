//! The decisions of replication's data path that the leader's fetch handler and the follower's
//! fetcher make, as pure functions over plain values: where a follower's log diverges from the
//! leader's (KIP-320), where a follower truncates to, what a follower asks for next, and the
//! high watermark a follower takes.
//!
//! Not here: the I/O around them (`handlers/replica_fetch.rs` reads the log and answers,
//! `partitions/io.rs` truncates and appends, `cluster/fetcher.rs` sends), and the leader's
//! progress, ISR and high-watermark rules (`replica.rs`). Both the broker and the deterministic
//! simulator (`crates/sim`) call these functions, so the simulator checks the code the broker
//! runs (docs/internals/simulator.md).
//!
//! Invariant kept by the pair [`diverging_epoch`] / [`truncation_offset`]: a follower only
//! removes records the leader's log proves are not its own (an epoch that ended earlier on the
//! leader), never down to a high watermark (KIP-101).

/// A diverging answer: the largest epoch at or below the follower's last fetched epoch that
/// the leader's log holds, and where that epoch ends there (Kafka's `EpochEndOffset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DivergingEpoch {
    pub epoch: i32,
    pub end_offset: i64,
}

/// What a follower names in its fetch: its log end offset and the epoch of its last batch
/// (-1 with an empty epoch cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPosition {
    pub fetch_offset: i64,
    pub last_fetched_epoch: i32,
}

impl FetchPosition {
    /// The position of a follower whose log ends at `log_end` with `latest_epoch` last.
    pub fn of_log(log_end: i64, latest_epoch: Option<i32>) -> Self {
        FetchPosition {
            fetch_offset: log_end,
            last_fetched_epoch: latest_epoch.unwrap_or(-1),
        }
    }
}

/// The leader's side of KIP-320: `None` when the follower's log is a prefix of the leader's as
/// far as epochs tell (the fetch is served from `fetch_offset`), else where it diverges.
/// `end_offset_for_epoch` is the leader log's `OffsetsForLeaderEpoch` answer: the largest epoch
/// at or below the one asked and where it ends (`storage::Log::end_offset_for_epoch`). A
/// leader that knows no epoch at all (an empty epoch cache: elected with an empty log, nothing
/// appended yet) holds nothing the follower wrote past its log end `leader_log_end`: the
/// follower's epoch ends there (Kafka assigns the epoch at leadership start instead, and its
/// follower truncates to the leader's end on OFFSET_OUT_OF_RANGE).
pub fn diverging_epoch<E>(
    position: FetchPosition,
    leader_log_end: i64,
    end_offset_for_epoch: impl FnOnce(i32) -> Result<(i32, i64), E>,
) -> Result<Option<DivergingEpoch>, E> {
    if position.last_fetched_epoch < 0 {
        return Ok(None);
    }
    let (epoch, end_offset) = end_offset_for_epoch(position.last_fetched_epoch)?;
    if epoch < 0 {
        return Ok(
            (position.fetch_offset > leader_log_end).then_some(DivergingEpoch {
                epoch: position.last_fetched_epoch,
                end_offset: leader_log_end,
            }),
        );
    }
    if epoch != position.last_fetched_epoch || end_offset < position.fetch_offset {
        return Ok(Some(DivergingEpoch { epoch, end_offset }));
    }
    Ok(None)
}

/// The follower's side: the offset to truncate its log to after a diverging answer, given
/// where `diverging.epoch` ends in its own log (`local_end_for_epoch`, the follower log's
/// `end_offset_for_epoch(diverging.epoch).1`). Never past either end: the follower keeps what
/// both logs wrote in that epoch.
pub fn truncation_offset(diverging: DivergingEpoch, local_end_for_epoch: i64) -> i64 {
    diverging.end_offset.min(local_end_for_epoch)
}

/// A follower's high watermark: its leader's, capped at its own log end.
pub fn follower_high_watermark(leader_high_watermark: i64, log_end: i64) -> i64 {
    leader_high_watermark.min(log_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leader's epochs: 1 from 0, 3 from 10, 5 from 30; its log ends at 40 (KIP-101's
    /// worked examples, as `storage::epoch` answers them).
    fn leader(epoch: i32) -> Result<(i32, i64), ()> {
        Ok(match epoch {
            ..=-1 => (-1, -1),
            0 => (0, 0), // older than every epoch: ends where the first starts
            1..=2 => (1, 10),
            3..=4 => (3, 30),
            _ => (5, 40),
        })
    }

    #[test]
    fn a_follower_whose_epoch_ends_later_than_the_leaders_diverges() {
        let at = |fetch_offset, last_fetched_epoch| FetchPosition {
            fetch_offset,
            last_fetched_epoch,
        };
        assert_eq!(diverging_epoch_at(at(0, -1), leader), Ok(None), "empty log");
        assert_eq!(diverging_epoch_at(at(8, 1), leader), Ok(None), "a prefix");
        assert_eq!(diverging_epoch_at(at(30, 3), leader), Ok(None), "epoch end");
        assert_eq!(
            diverging_epoch_at(at(12, 1), leader),
            Ok(Some(DivergingEpoch {
                epoch: 1,
                end_offset: 10
            })),
            "epoch 1 ended at 10 on the leader"
        );
        assert_eq!(
            diverging_epoch_at(at(25, 4), leader),
            Ok(Some(DivergingEpoch {
                epoch: 3,
                end_offset: 30
            })),
            "epoch 4 never wrote on the leader"
        );
        assert_eq!(
            diverging_epoch_at(at(3, 0), leader),
            Ok(Some(DivergingEpoch {
                epoch: 0,
                end_offset: 0
            })),
            "an epoch older than the leader's log: truncate to its start (simulator seed 86)"
        );
    }

    fn diverging_epoch_at(
        position: FetchPosition,
        leader: impl FnOnce(i32) -> Result<(i32, i64), ()>,
    ) -> Result<Option<DivergingEpoch>, ()> {
        diverging_epoch(position, 40, leader)
    }

    #[test]
    fn a_follower_ahead_of_a_leader_that_knows_no_epoch_truncates_to_its_end() {
        // An unclean election of a replica that lost its log: no epoch cached, log end 0.
        let knows_none = |_| Ok::<_, ()>((-1, -1));
        let ahead = FetchPosition {
            fetch_offset: 1_934,
            last_fetched_epoch: 2,
        };
        let diverging = diverging_epoch(ahead, 0, knows_none).unwrap().unwrap();
        assert_eq!(
            diverging,
            DivergingEpoch {
                epoch: 2,
                end_offset: 0
            }
        );
        assert_eq!(truncation_offset(diverging, 1_934), 0);
        let behind = FetchPosition {
            fetch_offset: 5,
            last_fetched_epoch: 2,
        };
        assert_eq!(diverging_epoch(behind, 10, knows_none), Ok(None));
    }

    #[test]
    fn a_follower_truncates_to_the_smaller_end_of_the_epoch() {
        let answer = DivergingEpoch {
            epoch: 3,
            end_offset: 30,
        };
        assert_eq!(truncation_offset(answer, 25), 25);
        assert_eq!(truncation_offset(answer, 35), 30);
        assert_eq!(follower_high_watermark(50, 40), 40);
        assert_eq!(FetchPosition::of_log(7, None).last_fetched_epoch, -1);
    }
}
