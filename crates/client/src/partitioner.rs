//! Kafka's default partitioner for keyed records: `toPositive(murmur2(key)) % partitions`
//! (`BuiltInPartitioner.partitionForKey` over `Utils.murmur2`), so a key lands in the partition
//! the Java client, librdkafka's `murmur2_random` and franz-go's Kafka-compatible hasher choose.
//! Records without a key are not placed here: the producer sends each batch of them to one
//! partition, rotating (Kafka's sticky partitioning, KIP-480, in spirit).

/// The partition of `key` among `partitions` (> 0).
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    assert!(partitions > 0, "a topic has at least one partition");
    (murmur2(key) & 0x7fff_ffff) % partitions
}

/// Kafka's `Utils.murmur2`: MurmurHash2, 32 bits, seed `0x9747b28c`, little-endian words.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's `UtilsTest.testMurmur2` vectors, and partitions checked against
    /// `org.apache.kafka.common.utils.Utils` 4.4.0.
    #[test]
    fn murmur2_matches_kafka() {
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
        ];
        for (data, expected) in cases {
            assert_eq!(
                murmur2(data),
                *expected,
                "{}",
                String::from_utf8_lossy(data)
            );
        }
    }

    #[test]
    fn keys_land_where_kafka_places_them() {
        // Utils.toPositive(Utils.murmur2(key)) % 7, printed by kafka-clients 4.4.0.
        let cases: &[(&[u8], i32)] = &[
            (b"", 2),
            (b"k", 1),
            (b"key-1", 5),
            (b"ad-42", 0),
            (b"abc", 4),
            (b"21", 3),
        ];
        for (key, expected) in cases {
            assert_eq!(
                partition_for_key(key, 7),
                *expected,
                "{}",
                String::from_utf8_lossy(key)
            );
        }
    }
}
