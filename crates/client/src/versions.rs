//! The API versions this client speaks, and the choice of one version per request: the newest
//! that both this client and the broker (its ApiVersions answer) serve.
//!
//! The table is this client's, not the codec's: the codec can encode every version of Kafka
//! 4.4's specs, but a request at a version is only correct when the code building it knows
//! what that version means (OffsetFetch v8 batches groups, v10 names topics by id; Produce v13
//! and Fetch v13 name topics by id; FindCoordinator v4 batches keys). A version joins this
//! table when the code that builds and reads it handles it; a test checks the table stays
//! within the codec's.

use protocol::ApiKey;

/// `(api, oldest, newest)` this client builds and reads correctly.
pub(crate) const CLIENT_VERSIONS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::Metadata, 1, 13),
    (ApiKey::Produce, 3, 13),
    (ApiKey::Fetch, 4, 18),
    (ApiKey::ListOffsets, 1, 11),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::OffsetCommit, 2, 10),
    (ApiKey::OffsetFetch, 1, 10),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    (ApiKey::ConsumerGroupDescribe, 0, 1),
    (ApiKey::SaslHandshake, 1, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
];

/// The versions this client speaks for `api`, `None` when it never sends it.
pub(crate) fn client_range(api: ApiKey) -> Option<(i16, i16)> {
    CLIENT_VERSIONS
        .iter()
        .find(|(key, _, _)| *key == api)
        .map(|(_, min, max)| (*min, *max))
}

/// The newest version in both ranges, `None` when they do not overlap.
pub(crate) fn pick(client: (i16, i16), broker: (i16, i16)) -> Option<i16> {
    let newest = client.1.min(broker.1);
    (newest >= client.0.max(broker.0)).then_some(newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_stays_within_the_codec() {
        for (api, min, max) in CLIENT_VERSIONS {
            let (codec_min, codec_max) = api.versions();
            assert!(
                codec_min <= *min && min <= max && *max <= codec_max,
                "{api:?}"
            );
        }
    }

    #[test]
    fn pick_takes_the_newest_common_version() {
        assert_eq!(pick((4, 18), (4, 17)), Some(17));
        assert_eq!(pick((4, 18), (0, 20)), Some(18));
        assert_eq!(pick((3, 13), (0, 2)), None);
        assert_eq!(pick((2, 10), (10, 12)), Some(10));
    }
}
