//! The record batches `runnel bench produce` sends: built once, re-stamped per send. Every record
//! has the same value (random letters, generated once, as kafka-producer-perf-test makes its
//! payload) and no key, so one encoded batch serves every partition and every request; `stamp`
//! copies it with the send time as CreateTime (base and max timestamp) and a fresh CRC32C, which
//! costs a copy and a checksum instead of encoding every record again, and only once per
//! millisecond: batches sent within the same millisecond share one stamped copy.
//!
//! A batch holds as many records as fit in `--batch-size` bytes (header included, uncompressed,
//! as Kafka's `batch.size`), at least one. With compression the batch is compressed once here.
//!
//! Not here: keys, headers, varying values; the producer's request building (`produce.rs`).

use bytes::Bytes;
use protocol::records::{
    Compression, RECORD_BATCH_HEADER_BYTES, Record, RecordBatchBuilder, RecordsError,
};

/// Offsets in a v2 batch header (protocol/src/records/batch.rs has the layout).
const CRC_AT: usize = 17;
const CRC_START: usize = 21;
const BASE_TIMESTAMP_AT: usize = 27;
const MAX_TIMESTAMP_AT: usize = 35;

/// One encoded batch of identical records, ready to be stamped and sent.
#[derive(Debug, Clone)]
pub(super) struct BatchTemplate {
    /// A whole v2 batch: base offset 0 (the broker assigns offsets), every timestamp delta 0.
    bytes: Vec<u8>,
    records: u32,
    /// The last stamped copy and its timestamp.
    stamped: Option<(i64, Bytes)>,
}

impl BatchTemplate {
    /// A batch of `records` records whose value is `value`.
    pub(super) fn build(
        records: u32,
        value: &Bytes,
        compression: Compression,
    ) -> Result<BatchTemplate, RecordsError> {
        assert!(records > 0, "a batch holds at least one record");
        let mut builder = RecordBatchBuilder::new()
            .base_timestamp(0)
            .compression(compression);
        for offset_delta in 0..records {
            builder.push(Record {
                offset_delta: offset_delta as i32,
                timestamp_delta: 0,
                key: None,
                value: Some(value.clone()),
                headers: Vec::new(),
            })?;
        }
        Ok(BatchTemplate {
            bytes: builder.build()?.to_vec(),
            records,
            stamped: None,
        })
    }

    pub(super) fn records(&self) -> u32 {
        self.records
    }

    /// Bytes of the encoded batch (what goes on the wire for it).
    pub(super) fn size_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// A copy with CreateTime `timestamp_ms` on every record and its CRC32C recomputed (the same
    /// copy as the last call's when the timestamp is the same).
    pub(super) fn stamp(&mut self, timestamp_ms: i64) -> Bytes {
        if let Some((stamped_ms, batch)) = &self.stamped
            && *stamped_ms == timestamp_ms
        {
            return batch.clone();
        }
        let mut batch = self.bytes.clone();
        let timestamp = timestamp_ms.to_be_bytes();
        batch[BASE_TIMESTAMP_AT..BASE_TIMESTAMP_AT + 8].copy_from_slice(&timestamp);
        batch[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&timestamp);
        let crc = crc32c::crc32c(&batch[CRC_START..]);
        batch[CRC_AT..CRC_START].copy_from_slice(&crc.to_be_bytes());
        let batch = Bytes::from(batch);
        self.stamped = Some((timestamp_ms, batch.clone()));
        batch
    }
}

/// Records of `record_bytes` value bytes that fit in a batch of `batch_bytes` (header
/// included), at least one: Kafka's producer starts a new batch when the next record would
/// overflow `batch.size`, and always takes a first record however large.
pub(super) fn records_per_batch(record_bytes: usize, batch_bytes: usize) -> u32 {
    // Sized with a two-byte offset delta (deltas 64..8191): every record of a batch up to 8,192
    // records is counted at its size or above, so a full batch stays within `batch_bytes`.
    let record = Record {
        offset_delta: 8191,
        timestamp_delta: 0,
        key: None,
        value: Some(Bytes::from(vec![0u8; record_bytes])),
        headers: Vec::new(),
    };
    // A value too large to encode is refused when the batch is built; count it as one a batch.
    let size = record.encoded_size().unwrap_or(usize::MAX).max(1);
    let room = batch_bytes.saturating_sub(RECORD_BATCH_HEADER_BYTES);
    u32::try_from((room / size).max(1)).unwrap_or(u32::MAX)
}

/// `size` random upper-case letters (kafka-producer-perf-test's payload: `'A' + random(26)`),
/// from a xorshift generator seeded with `seed` (not cryptographic: it only has to look random
/// to a compressor).
pub(super) fn random_payload(size: usize, seed: u64) -> Bytes {
    let mut state = seed | 1;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b'A' + (state % 26) as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

#[cfg(test)]
mod tests {
    use protocol::records::{RecordBatchHeader, decode_batch_records};

    use super::*;

    #[test]
    fn a_stamped_batch_is_valid_and_carries_the_send_time() {
        // Goal: what the broker receives passes its checks (parse, CRC) and reads back as the
        // records asked for. Method: build, stamp twice, decode each.
        let value = random_payload(100, 42);
        let mut template = BatchTemplate::build(3, &value, Compression::None).unwrap();
        for now in [1_700_000_000_000, 1_700_000_000_123] {
            let batch = template.stamp(now);
            assert_eq!(batch.len(), template.size_bytes());
            let header = RecordBatchHeader::parse(&batch).unwrap();
            header.verify_crc().unwrap();
            assert_eq!(header.records_count(), 3);
            assert_eq!(header.base_offset(), 0);
            assert_eq!(header.base_timestamp(), now);
            assert_eq!(header.max_timestamp(), now);
            let records: Vec<_> = decode_batch_records(&header, &batch, 1 << 20)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert_eq!(records.len(), 3);
            assert!(records.iter().all(|r| r.value.as_ref() == Some(&value)));
            assert_eq!(records[2].offset_delta, 2);
        }
    }

    #[test]
    fn batches_of_the_same_millisecond_share_one_copy() {
        let mut template =
            BatchTemplate::build(2, &random_payload(10, 3), Compression::None).unwrap();
        let first = template.stamp(1_000);
        assert_eq!(template.stamp(1_000).as_ptr(), first.as_ptr());
        let next = template.stamp(1_001);
        assert_ne!(next.as_ptr(), first.as_ptr());
        assert_eq!(
            RecordBatchHeader::parse(&next).unwrap().base_timestamp(),
            1_001
        );
        assert_eq!(
            RecordBatchHeader::parse(&first).unwrap().base_timestamp(),
            1_000
        );
    }

    #[test]
    fn a_compressed_batch_is_compressed_once_and_stamped_in_its_header() {
        let value = random_payload(1000, 7);
        let mut template = BatchTemplate::build(50, &value, Compression::Lz4).unwrap();
        assert!(template.size_bytes() < 50 * 1000, "letters compress");
        let batch = template.stamp(5);
        let header = RecordBatchHeader::parse(&batch).unwrap();
        header.verify_crc().unwrap();
        assert_eq!(header.compression(), Some(Compression::Lz4));
        let count = decode_batch_records(&header, &batch, 1 << 20)
            .unwrap()
            .count();
        assert_eq!(count, 50);
    }

    #[test]
    fn records_per_batch_fills_batch_size_with_at_least_one() {
        // Goal: Kafka's batch.size meaning: as many records as fit, header included, and a
        // record larger than a batch goes alone. Method: build the batch the count gives and
        // one with more records, and compare their sizes with the bound.
        let value = random_payload(100, 1);
        for batch_bytes in [200, 1_000, 16_384, 131_072] {
            let n = records_per_batch(100, batch_bytes);
            let full = BatchTemplate::build(n, &value, Compression::None).unwrap();
            assert!(full.size_bytes() <= batch_bytes, "{batch_bytes}: {n}");
            // Within one record (and the delta's growth) of the bound: nothing wasted.
            let more = BatchTemplate::build(n + 2, &value, Compression::None).unwrap();
            assert!(more.size_bytes() > batch_bytes, "{batch_bytes}: {n}");
        }
        // 110 bytes a record (length 2, attributes 1, timestamp delta 1, offset delta 2, null key 1,
        // value length 2 + 100, header count 1): (16,384 - 61) / 110.
        assert_eq!(records_per_batch(100, 16_384), 148);
        assert_eq!(records_per_batch(100_000, 16_384), 1);
        assert_eq!(records_per_batch(100, 0), 1);
    }

    #[test]
    fn the_payload_is_letters_and_depends_on_the_seed() {
        let a = random_payload(1000, 1);
        assert!(a.iter().all(u8::is_ascii_uppercase));
        assert_ne!(a, random_payload(1000, 2));
        assert_eq!(a, random_payload(1000, 1));
        let distinct: std::collections::BTreeSet<u8> = a.iter().copied().collect();
        assert_eq!(distinct.len(), 26);
    }
}
