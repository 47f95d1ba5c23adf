//! Which `__consumer_offsets` partition owns a group: Kafka's
//! `Utils.abs(groupId.hashCode()) % offsets.topic.num.partitions`, bit for bit.
//!
//! Clients do not compute this themselves (they ask FindCoordinator), but tools that read the
//! topic and brokers that share it with Apache Kafka do, so the function must match Java's
//! `String.hashCode` (over UTF-16 code units, wrapping `int` arithmetic) and Kafka's `Utils.abs`
//! (which maps `Integer.MIN_VALUE` to 0 rather than overflowing).

/// The name of the internal topic that stores group metadata and committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Java's `String.hashCode()`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units, wrapping.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |hash, unit| {
        hash.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// Kafka's `Utils.abs`: the absolute value, with `i32::MIN` mapped to 0.
pub fn kafka_abs(n: i32) -> i32 {
    if n == i32::MIN { 0 } else { n.abs() }
}

/// The `__consumer_offsets` partition that holds `group_id`'s records, for a topic of
/// `partition_count` partitions (`offsets.topic.num.partitions`, default 50).
///
/// # Panics
/// If `partition_count` is not positive: the topic always has at least one partition.
pub fn partition_for(group_id: &str, partition_count: i32) -> i32 {
    assert!(
        partition_count > 0,
        "offsets.topic.num.partitions must be positive"
    );
    kafka_abs(java_string_hash(group_id)) % partition_count
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: match Java exactly. Method: values printed by `jshell` (OpenJDK 17) for
    /// `"...".hashCode()`, including non-ASCII (one and two UTF-16 units per char) and the famous
    /// string whose hash is `Integer.MIN_VALUE`.
    #[test]
    fn hash_matches_java() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash("my-group"), -1_906_497_762);
        assert_eq!(java_string_hash("console-consumer-12345"), 158_455_506);
        assert_eq!(java_string_hash("\u{e9}t\u{e9}"), 227_742);
        assert_eq!(java_string_hash("grp-\u{1F600}"), -1_235_730_613);
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
    }

    #[test]
    fn partition_uses_kafka_abs() {
        // Utils.abs(MIN_VALUE) is 0, so this group lands on partition 0 whatever the count.
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        assert_eq!(partition_for("hello", 50), 99_162_322 % 50);
        assert_eq!(partition_for("my-group", 50), 1_906_497_762 % 50);
        assert_eq!(partition_for("grp-\u{1F600}", 7), 1_235_730_613 % 7);
        assert_eq!(partition_for("anything", 1), 0);
    }
}
