//! Kafka's rules for a topic as a name on the wire: which names are legal (Kafka's
//! `org.apache.kafka.common.internals.Topic.validate`) and the most partitions one topic may
//! have. The one copy of these rules: the broker checks a request against them before any
//! change, and the controller checks every command against them again when it applies it.
//!
//! Not here: whether a topic exists, its configs, replica placement (broker and controller).
//! No I/O.

/// Longest topic name Kafka accepts, in bytes (`Topic.MAX_NAME_LENGTH`).
pub const TOPIC_NAME_BYTES_MAX: usize = 249;

/// Most partitions one topic may have. Bounds the work of one CreateTopics or
/// CreatePartitions request on the broker and of one command on the controller.
pub const PARTITIONS_PER_TOPIC_MAX: i32 = 10_000;

/// Why a topic name is not legal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTopicName {
    #[error("the name is empty")]
    Empty,
    #[error("'.' and '..' are not allowed")]
    DotOrDotDot,
    #[error("{length_bytes} bytes is longer than the {TOPIC_NAME_BYTES_MAX} allowed")]
    TooLong { length_bytes: usize },
    #[error("only ASCII letters, digits, '.', '_' and '-' are allowed")]
    IllegalCharacter,
}

/// Checks a topic name the way Kafka's `Topic.validate` does.
pub fn validate_topic_name(name: &str) -> Result<(), InvalidTopicName> {
    if name.is_empty() {
        return Err(InvalidTopicName::Empty);
    }
    if name == "." || name == ".." {
        return Err(InvalidTopicName::DotOrDotDot);
    }
    if name.len() > TOPIC_NAME_BYTES_MAX {
        return Err(InvalidTopicName::TooLong {
            length_bytes: name.len(),
        });
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(InvalidTopicName::IllegalCharacter);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: the rules of Kafka's `Topic.validate`, one case per rule, and names at the limits
    /// pass (249 bytes, internal topics, every allowed character).
    #[test]
    fn topic_names_follow_kafka_rules() {
        assert_eq!(validate_topic_name(""), Err(InvalidTopicName::Empty));
        assert_eq!(validate_topic_name("."), Err(InvalidTopicName::DotOrDotDot));
        assert_eq!(
            validate_topic_name(".."),
            Err(InvalidTopicName::DotOrDotDot)
        );
        assert_eq!(
            validate_topic_name(&"x".repeat(250)),
            Err(InvalidTopicName::TooLong { length_bytes: 250 })
        );
        for bad in ["a/b", "with space", "héllo", "tab\t", "colon:"] {
            assert_eq!(
                validate_topic_name(bad),
                Err(InvalidTopicName::IllegalCharacter),
                "{bad:?}"
            );
        }
        for good in [
            "x".repeat(TOPIC_NAME_BYTES_MAX),
            "__consumer_offsets".to_string(),
            "a.b-c_D9".to_string(),
            "...".to_string(),
        ] {
            assert_eq!(validate_topic_name(&good), Ok(()), "{good:?}");
        }
    }
}
