//! The share coordinator's state (KIP-932): the persisted state of each share-partition, kept
//! in `__share_group_state` as Kafka's `ShareSnapshot` records (key type 0), one partition of
//! the topic per key by `hash("group:topicId:partition") % partitions` as Kafka places them.
//! A sans-I/O store: the broker appends the records it returns, and rebuilds it with
//! [`ShareStateStore::replay`].
//!
//! Every write is a whole snapshot (Kafka also writes `ShareUpdate` deltas between snapshots;
//! a snapshot per write is the same state in Kafka's format, and compaction keeps the last one
//! per key). Replay reads `ShareUpdate` records too (type 1): their batches replace the same
//! offsets of the snapshot before them.
//!
//! Fencing: a write or read naming a leader epoch below the stored one is refused with
//! FENCED_LEADER_EPOCH, so a deposed leader cannot overwrite its successor's state.

use std::collections::HashMap;

use bytes::Bytes;
use protocol::generated::share_snapshot_value::StateBatch;
use protocol::generated::{ShareSnapshotKey, ShareSnapshotValue, ShareUpdateKey, ShareUpdateValue};
use protocol::{ErrorCode, Uuid};

use crate::error::CoordinatorError;
use crate::offsets_topic::{java_string_hash, kafka_abs};
use crate::records::{decode, decode_key, encode, encode_key};

/// Kafka's share-group state topic.
pub const SHARE_STATE_TOPIC: &str = "__share_group_state";
/// The record types of `__share_group_state`.
const SNAPSHOT_RECORD: i16 = 0;
const UPDATE_RECORD: i16 = 1;
/// The most state batches one share-partition's state may hold (its window is bounded by
/// `group.share.partition.max.record.locks`, at most 10,000 records).
pub const STATE_BATCHES_MAX: usize = 10_000;

/// Which share-partition a state belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShareStateKey {
    pub group_id: String,
    pub topic_id: Uuid,
    pub partition: i32,
}

impl ShareStateKey {
    /// The `__share_group_state` partition holding this key (Kafka's `groupId:topicId:partition`
    /// coordinator key, hashed as Java hashes strings).
    pub fn state_partition(&self, partition_count: i32) -> i32 {
        let key = format!("{}:{}:{}", self.group_id, self.topic_id, self.partition);
        kafka_abs(java_string_hash(&key)) % partition_count.max(1)
    }
}

/// One range of a share-partition's window with one state and delivery count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareStateBatch {
    pub first_offset: i64,
    pub last_offset: i64,
    /// Kafka's persisted state: 0 available, 2 acknowledged, 4 archived.
    pub delivery_state: i8,
    pub delivery_count: i16,
}

/// A share-partition's persisted state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareState {
    pub snapshot_epoch: i32,
    pub state_epoch: i32,
    pub leader_epoch: i32,
    pub start_offset: i64,
    pub batches: Vec<ShareStateBatch>,
}

/// The share states of one `__share_group_state` partition.
#[derive(Debug, Default)]
pub struct ShareStateStore {
    states: HashMap<ShareStateKey, ShareState>,
}

/// A record for `__share_group_state`: key, and value (`None`: a tombstone).
pub type ShareStateRecord = (Bytes, Option<Bytes>);

impl ShareStateStore {
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// ReadShareGroupState: the state of `key` (`None` if never written), fenced by
    /// `leader_epoch` (-1 reads without fencing, as an admin read does).
    /// A higher leader epoch is remembered, so the leader it replaced can no longer write
    /// (Kafka records it; here it lasts until the store is rebuilt, and the new leader's first
    /// write records it).
    pub fn read(
        &mut self,
        key: &ShareStateKey,
        leader_epoch: i32,
    ) -> Result<Option<&ShareState>, ErrorCode> {
        match self.states.get_mut(key) {
            Some(state) if leader_epoch >= 0 && leader_epoch < state.leader_epoch => {
                Err(ErrorCode::FencedLeaderEpoch)
            }
            Some(state) => {
                state.leader_epoch = state.leader_epoch.max(leader_epoch);
                Ok(Some(state))
            }
            None => Ok(None),
        }
    }

    /// WriteShareGroupState: replaces `key`'s state and returns the snapshot record to append.
    /// The state changes at once; if the append fails the caller rebuilds the store by replay.
    pub fn write(
        &mut self,
        key: &ShareStateKey,
        leader_epoch: i32,
        state_epoch: i32,
        start_offset: i64,
        batches: Vec<ShareStateBatch>,
        now_ms: i64,
    ) -> Result<ShareStateRecord, ErrorCode> {
        if batches.len() > STATE_BATCHES_MAX || start_offset < 0 {
            return Err(ErrorCode::InvalidRequest);
        }
        let previous = self.states.get(key);
        if let Some(previous) = previous
            && leader_epoch < previous.leader_epoch
        {
            return Err(ErrorCode::FencedLeaderEpoch);
        }
        let state = ShareState {
            snapshot_epoch: previous.map_or(0, |p| p.snapshot_epoch.saturating_add(1)),
            state_epoch,
            leader_epoch,
            start_offset,
            batches,
        };
        let record = snapshot_record(key, &state, now_ms);
        self.states.insert(key.clone(), state);
        Ok(record)
    }

    /// DeleteShareGroupState: forgets `key`; returns the tombstone to append (`None` if there
    /// was nothing).
    pub fn delete(&mut self, key: &ShareStateKey) -> Option<ShareStateRecord> {
        self.states.remove(key)?;
        Some((snapshot_key(key), None))
    }

    /// Every key of `group_id` this store holds.
    pub fn keys_of_group(&self, group_id: &str) -> Vec<ShareStateKey> {
        let mut keys: Vec<ShareStateKey> = self
            .states
            .keys()
            .filter(|k| k.group_id == group_id)
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    /// Applies one record read back from `__share_group_state`.
    pub fn replay(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), CoordinatorError> {
        if key.len() < 2 {
            return Err(CoordinatorError::KeyTooShort { len: key.len() });
        }
        let record_type = i16::from_be_bytes([key[0], key[1]]);
        let value = match value {
            Some(value) if value.len() < 2 => {
                return Err(CoordinatorError::ValueTooShort { len: value.len() });
            }
            Some(value) => Some((i16::from_be_bytes([value[0], value[1]]), &value[2..])),
            None => None,
        };
        match record_type {
            SNAPSHOT_RECORD => {
                let k: ShareSnapshotKey = decode_key(&key[2..], "ShareSnapshotKey")?;
                let key = ShareStateKey {
                    group_id: k.group_id,
                    topic_id: k.topic_id,
                    partition: k.partition,
                };
                match value {
                    None => {
                        self.states.remove(&key);
                    }
                    Some((version, bytes)) => {
                        let v: ShareSnapshotValue = decode(bytes, version, "ShareSnapshotValue")?;
                        self.states.insert(
                            key,
                            ShareState {
                                snapshot_epoch: v.snapshot_epoch,
                                state_epoch: v.state_epoch,
                                leader_epoch: v.leader_epoch,
                                start_offset: v.start_offset,
                                batches: v.state_batches.iter().map(from_wire).collect(),
                            },
                        );
                    }
                }
            }
            UPDATE_RECORD => {
                let k: ShareUpdateKey = decode_key(&key[2..], "ShareUpdateKey")?;
                let key = ShareStateKey {
                    group_id: k.group_id,
                    topic_id: k.topic_id,
                    partition: k.partition,
                };
                let Some((version, bytes)) = value else {
                    return Ok(());
                };
                let v: ShareUpdateValue = decode(bytes, version, "ShareUpdateValue")?;
                if let Some(state) = self.states.get_mut(&key) {
                    state.leader_epoch = state.leader_epoch.max(v.leader_epoch);
                    if v.start_offset >= 0 {
                        state.start_offset = v.start_offset;
                    }
                    let updates: Vec<ShareStateBatch> = v
                        .state_batches
                        .iter()
                        .map(|b| ShareStateBatch {
                            first_offset: b.first_offset,
                            last_offset: b.last_offset,
                            delivery_state: b.delivery_state,
                            delivery_count: b.delivery_count,
                        })
                        .collect();
                    state.batches = merge(&state.batches, &updates, state.start_offset);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn from_wire(b: &StateBatch) -> ShareStateBatch {
    ShareStateBatch {
        first_offset: b.first_offset,
        last_offset: b.last_offset,
        delivery_state: b.delivery_state,
        delivery_count: b.delivery_count,
    }
}

/// `base` with the offsets of `updates` replaced by them, dropping what lies below `start`.
fn merge(
    base: &[ShareStateBatch],
    updates: &[ShareStateBatch],
    start: i64,
) -> Vec<ShareStateBatch> {
    let mut out: Vec<ShareStateBatch> = Vec::new();
    for b in base {
        let mut pieces = vec![*b];
        for u in updates {
            pieces = pieces
                .into_iter()
                .flat_map(|p| {
                    let mut left = Vec::new();
                    if p.last_offset < u.first_offset || p.first_offset > u.last_offset {
                        left.push(p);
                    } else {
                        if p.first_offset < u.first_offset {
                            left.push(ShareStateBatch {
                                last_offset: u.first_offset - 1,
                                ..p
                            });
                        }
                        if p.last_offset > u.last_offset {
                            left.push(ShareStateBatch {
                                first_offset: u.last_offset + 1,
                                ..p
                            });
                        }
                    }
                    left
                })
                .collect();
        }
        out.extend(pieces);
    }
    out.extend(updates.iter().copied());
    out.retain(|b| b.last_offset >= start);
    out.sort_by_key(|b| b.first_offset);
    out.truncate(STATE_BATCHES_MAX);
    out
}

fn snapshot_key(key: &ShareStateKey) -> Bytes {
    encode_key(
        SNAPSHOT_RECORD,
        &ShareSnapshotKey {
            group_id: key.group_id.clone(),
            topic_id: key.topic_id,
            partition: key.partition,
            ..Default::default()
        },
    )
}

fn snapshot_record(key: &ShareStateKey, state: &ShareState, now_ms: i64) -> ShareStateRecord {
    let value = ShareSnapshotValue {
        snapshot_epoch: state.snapshot_epoch,
        state_epoch: state.state_epoch,
        leader_epoch: state.leader_epoch,
        start_offset: state.start_offset,
        delivery_complete_count: state
            .batches
            .iter()
            .filter(|b| b.delivery_state != 0)
            .map(|b| (b.last_offset - b.first_offset + 1).clamp(0, i32::MAX as i64) as i32)
            .fold(0i32, i32::saturating_add),
        create_timestamp: now_ms,
        write_timestamp: now_ms,
        state_batches: state
            .batches
            .iter()
            .map(|b| StateBatch {
                first_offset: b.first_offset,
                last_offset: b.last_offset,
                delivery_state: b.delivery_state,
                delivery_count: b.delivery_count,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    (snapshot_key(key), Some(encode(0, &value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ShareStateKey {
        ShareStateKey {
            group_id: "g".into(),
            topic_id: Uuid([7; 16]),
            partition: 3,
        }
    }

    fn batch(first: i64, last: i64, state: i8, count: i16) -> ShareStateBatch {
        ShareStateBatch {
            first_offset: first,
            last_offset: last,
            delivery_state: state,
            delivery_count: count,
        }
    }

    #[test]
    fn writes_replay_to_the_same_state_and_tombstones_forget() {
        let mut store = ShareStateStore::default();
        let (k, v) = store
            .write(
                &key(),
                4,
                0,
                10,
                vec![batch(10, 12, 2, 1), batch(13, 13, 0, 3)],
                99,
            )
            .unwrap();
        let mut replayed = ShareStateStore::default();
        replayed.replay(&k, v.as_deref()).unwrap();
        let expected = store.read(&key(), 4).unwrap().cloned();
        assert_eq!(replayed.read(&key(), 4).unwrap().cloned(), expected);
        let (k, v) = store.delete(&key()).unwrap();
        replayed.replay(&k, v.as_deref()).unwrap();
        assert!(replayed.is_empty());
    }

    #[test]
    fn a_deposed_leader_is_fenced() {
        let mut store = ShareStateStore::default();
        store.write(&key(), 5, 0, 0, Vec::new(), 0).unwrap();
        assert_eq!(
            store.write(&key(), 4, 0, 7, Vec::new(), 0).err(),
            Some(ErrorCode::FencedLeaderEpoch)
        );
        assert_eq!(
            store.read(&key(), 4).err(),
            Some(ErrorCode::FencedLeaderEpoch)
        );
        assert_eq!(store.read(&key(), 5).unwrap().unwrap().start_offset, 0);
        // A new leader's read fences the leader it replaced before the new one writes.
        assert_eq!(store.read(&key(), 6).unwrap().unwrap().start_offset, 0);
        assert_eq!(
            store.write(&key(), 5, 0, 9, Vec::new(), 0).err(),
            Some(ErrorCode::FencedLeaderEpoch)
        );
        assert_eq!(
            store.write(&key(), 6, 0, 7, Vec::new(), 0).map(|_| ()),
            Ok(())
        );
    }

    #[test]
    fn an_update_record_replaces_its_offsets() {
        let merged = merge(&[batch(0, 9, 0, 1)], &[batch(3, 4, 2, 1)], 2);
        assert_eq!(
            merged,
            vec![batch(0, 2, 0, 1), batch(3, 4, 2, 1), batch(5, 9, 0, 1)]
        );
        // Batches wholly below the start offset are dropped.
        assert_eq!(merge(&[batch(0, 1, 2, 1)], &[], 2), Vec::new());
    }

    #[test]
    fn keys_spread_over_the_topic_like_kafkas() {
        let p = key().state_partition(50);
        assert!((0..50).contains(&p));
        assert_eq!(p, key().state_partition(50));
    }
}
