//! Memory bounds: members per group (`group.max.size`), KIP-394 pending members, groups per
//! coordinator, committed partitions per group.

use protocol::ErrorCode;
use protocol::generated::OffsetCommitRequest;
use protocol::generated::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};

use super::*;
use crate::GroupConfig;

fn small() -> GroupCoordinator {
    GroupCoordinator::new(
        GroupConfig {
            initial_rebalance_delay_ms: 0,
            group_max_size: 2,
            groups_max: 2,
            group_offsets_max: 3,
            ..GroupConfig::default()
        },
        7,
        0,
    )
}

/// Goal: GROUP_MAX_SIZE_REACHED once the group holds group.max.size members, for both dynamic
/// joins and KIP-394 pending ids.
#[test]
fn group_max_size() {
    let mut c = small();
    stable_group(&mut c, 0, 2);
    let refused = ready(c.join_group(1, client(), 3, &consumer_join("")));
    assert_eq!(code(refused.error_code), ErrorCode::GroupMaxSizeReached);
    assert_eq!(c.group(GROUP).unwrap().members().count(), 2);
    // Pending ids are bounded too.
    let mut c = small();
    for _ in 0..2 {
        let r = ready(c.join_group(2, client(), 5, &consumer_join("")));
        assert_eq!(code(r.error_code), ErrorCode::MemberIdRequired);
    }
    let r = ready(c.join_group(2, client(), 5, &consumer_join("")));
    assert_eq!(code(r.error_code), ErrorCode::GroupMaxSizeReached);
}

/// Goal: a coordinator holds at most groups_max groups; more are refused with a retriable error.
#[test]
fn groups_max() {
    let mut c = small();
    for (i, group) in ["a", "b", "c"].iter().enumerate() {
        let mut request = consumer_join("");
        request.group_id = (*group).to_owned();
        let response = c.join_group(0, client(), 3, &request);
        if i < 2 {
            pending(&response);
        } else {
            assert_eq!(
                code(ready(response).error_code),
                ErrorCode::CoordinatorNotAvailable
            );
        }
    }
    assert_eq!(c.group_count(), 2);
}

/// Goal: committed partitions per group are bounded; updates of known partitions still pass.
#[test]
fn group_offsets_max() {
    let mut c = small();
    let request = OffsetCommitRequest {
        group_id: "simple".to_owned(),
        generation_id_or_member_epoch: -1,
        topics: vec![OffsetCommitRequestTopic {
            name: "t".to_owned(),
            partitions: (0..4)
                .map(|p| OffsetCommitRequestPartition {
                    partition_index: p,
                    committed_offset: 10,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let outcome = c.offset_commit(0, 8, &request);
    let codes: Vec<ErrorCode> = outcome.response.topics[0]
        .partitions
        .iter()
        .map(|p| code(p.error_code))
        .collect();
    assert_eq!(codes[..3], [ErrorCode::None; 3]);
    assert_eq!(codes[3], ErrorCode::InvalidCommitOffsetSize);
    assert_eq!(outcome.records.len(), 3);
    let again = c.offset_commit(1, 8, &request);
    assert_eq!(
        again.records.len(),
        3,
        "known partitions can still be updated"
    );
}
