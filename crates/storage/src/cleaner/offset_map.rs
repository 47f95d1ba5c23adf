//! The cleaner's key map: for each key seen in the dirty section, the offset of its latest
//! record. Keys are stored as 128-bit xxh3 hashes (Kafka stores 16-byte MD5 digests), so memory
//! per key is fixed and the map's size is bounded by `log.cleaner.dedupe.buffer.size`.
//!
//! Bound: an entry is 24 bytes (the 16-byte hash, unaligned, and the offset) plus the hash
//! table's control byte; the table is allocated once, at the largest power-of-two bucket count
//! whose entries fit the buffer, and filled to its load limit (7/8), so it never grows: the
//! memory is at most the buffer (Kafka's `SkimpyOffsetMap` preallocates its buffer too). The
//! entries' pages are touched only as keys arrive. A collision of two 128-bit hashes would make
//! the older record of one key look superseded; at 2^-64 for a billion keys it is not a
//! practical risk (Kafka accepts the same with MD5).

use std::collections::HashMap;

/// Bytes per bucket: a 16-byte key, an 8-byte offset and the table's control byte.
const BYTES_PER_BUCKET: usize = 25;

pub(crate) struct OffsetMap {
    entries: HashMap<[u8; 16], i64>,
    capacity: usize,
}

impl OffsetMap {
    /// A map holding as many keys as `buffer_bytes` allows (at least one).
    pub fn with_buffer_bytes(buffer_bytes: usize) -> Self {
        let buckets = (buffer_bytes / BYTES_PER_BUCKET).max(8);
        // The largest power of two that fits, loaded to 7/8 (hashbrown's limit): no regrowth.
        let buckets = 1usize << (usize::BITS - 1 - buckets.leading_zeros());
        let capacity = (buckets / 8 * 7).max(1);
        Self {
            entries: HashMap::with_capacity(capacity),
            capacity,
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
        self.entries.insert(key_hash.to_le_bytes(), offset);
    }

    pub fn get(&self, key_hash: u128) -> Option<i64> {
        self.entries.get(&key_hash.to_le_bytes()).copied()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}
