//! The cleaner's key map: for each key seen in the dirty section, the offset of its latest
//! record. Keys are stored as 128-bit xxh3 hashes (Kafka stores 16-byte MD5 digests), so memory
//! per key is fixed and the map's size is bounded by `log.cleaner.dedupe.buffer.size`.
//!
//! Bound: Kafka counts 24 bytes per entry (hash and offset) and fills its buffer to 90%; this map
//! takes the same count of entries from the same setting. A collision of two 128-bit hashes
//! would make the older record of one key look superseded; at 2^-64 for a billion keys it is
//! not a practical risk (Kafka accepts the same with MD5).

use std::collections::HashMap;

/// Bytes Kafka's `SkimpyOffsetMap` spends per entry: a 16-byte digest and an 8-byte offset.
const BYTES_PER_ENTRY: usize = 24;
/// Kafka's `log.cleaner.io.buffer.load.factor` default.
const LOAD_FACTOR: f64 = 0.9;

pub(crate) struct OffsetMap {
    entries: HashMap<u128, i64>,
    capacity: usize,
}

impl OffsetMap {
    /// A map holding as many keys as `buffer_bytes` allows (at least one).
    pub fn with_buffer_bytes(buffer_bytes: usize) -> Self {
        let capacity = ((buffer_bytes / BYTES_PER_ENTRY) as f64 * LOAD_FACTOR) as usize;
        Self {
            entries: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn hash(key: &[u8]) -> u128 {
        twox_hash::XxHash3_128::oneshot(key)
    }

    /// Whether `more` new keys may still be added.
    pub fn has_room_for(&self, more: usize) -> bool {
        self.entries.len().saturating_add(more) <= self.capacity
    }

    /// Records `offset` as the latest for `key_hash` (offsets are put in increasing order).
    pub fn put(&mut self, key_hash: u128, offset: i64) {
        self.entries.insert(key_hash, offset);
    }

    pub fn get(&self, key_hash: u128) -> Option<i64> {
        self.entries.get(&key_hash).copied()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}
