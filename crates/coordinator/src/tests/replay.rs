//! The `__consumer_offsets` formats and replay: exact bytes for Kafka's record layouts, and a
//! coordinator rebuilt from the records another one emitted holds the same groups and offsets.

use protocol::ErrorCode;
use protocol::generated::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use protocol::generated::{
    GroupMetadataValue, LeaveGroupRequest, OffsetCommitRequest, OffsetCommitValue,
};

use super::*;
use crate::{CoordinatorRecord, DecodedRecord, GroupState, decode_record};

/// Everything durable about a coordinator, in a comparable form.
fn snapshot(c: &GroupCoordinator, ids: &[&str]) -> Vec<String> {
    ids.iter()
        .map(|id| match c.group(id) {
            None => format!("{id}: none"),
            Some(g) => {
                let protocol = g.protocol_name().unwrap_or_default();
                let members: Vec<String> = g
                    .members()
                    .map(|m| {
                        format!(
                            "{}/{:?}/{}/{}/{}/{}/{:?}/{:?}",
                            m.member_id(),
                            m.group_instance_id(),
                            m.client_id(),
                            m.client_host(),
                            m.session_timeout_ms(),
                            m.rebalance_timeout_ms(),
                            m.metadata(protocol),
                            m.assignment()
                        )
                    })
                    .collect();
                let offsets: Vec<String> = g
                    .offsets
                    .iter()
                    .flat_map(|(t, ps)| ps.iter().map(move |(p, o)| format!("{t}-{p}={o:?}")))
                    .collect();
                format!(
                    "{id}: {:?} gen={} type={:?} protocol={:?} leader={:?} ts={:?} members={members:?} offsets={offsets:?}",
                    g.state(),
                    g.generation_id(),
                    g.protocol_type(),
                    g.protocol_name(),
                    g.leader_id(),
                    g.state_timestamp_ms(),
                )
            }
        })
        .collect()
}

fn replay_all(log: &[CoordinatorRecord]) -> GroupCoordinator {
    let mut c = GroupCoordinator::new(config(), 99, 0);
    for record in log {
        c.replay(&record.key, record.value.as_deref()).unwrap();
    }
    c
}

fn commit(
    group: &str,
    generation: i32,
    member_id: &str,
    partition: i32,
    offset: i64,
    retention_ms: i64,
) -> OffsetCommitRequest {
    OffsetCommitRequest {
        group_id: group.to_owned(),
        generation_id_or_member_epoch: generation,
        member_id: member_id.to_owned(),
        retention_time_ms: retention_ms,
        topics: vec![OffsetCommitRequestTopic {
            name: "t".to_owned(),
            partitions: vec![OffsetCommitRequestPartition {
                partition_index: partition,
                committed_offset: offset,
                committed_leader_epoch: 1,
                committed_metadata: Some(format!("m{offset}")),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Goal: the exact bytes of Kafka's records. Method: hand-built layouts of OffsetCommitKey v1,
/// OffsetCommitValue v3 and GroupMetadataKey v2 (int16 version prefix, then int16-length
/// strings and big-endian integers).
#[test]
fn record_bytes_match_kafka_layouts() {
    let mut c = coordinator();
    let outcome = c.offset_commit(1_000, 8, &commit("g", -1, "", 0, 5, -1));
    let record = &outcome.records[0];
    assert_eq!(record.group_id, "g");
    assert_eq!(
        record.key.as_ref(),
        &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 0]
    );
    let mut value = vec![0, 3];
    value.extend_from_slice(&5i64.to_be_bytes());
    value.extend_from_slice(&1i32.to_be_bytes());
    value.extend_from_slice(&[0, 2, b'm', b'5']);
    value.extend_from_slice(&1_000i64.to_be_bytes());
    assert_eq!(record.value.as_deref(), Some(value.as_slice()));

    // OffsetCommit v2 with a retention time writes value version 1 with the expire timestamp.
    let outcome = c.offset_commit(1_000, 2, &commit("g", -1, "", 0, 6, 500));
    let value = outcome.records[0].value.as_deref().unwrap();
    assert_eq!(&value[..2], &[0, 1]);
    match decode_record(&outcome.records[0].key, Some(value)).unwrap() {
        DecodedRecord::OffsetCommit { value: Some(v), .. } => {
            assert_eq!(
                v,
                OffsetCommitValue {
                    offset: 6,
                    leader_epoch: -1,
                    metadata: "m6".into(),
                    commit_timestamp: 1_000,
                    expire_timestamp: 1_500,
                    ..Default::default()
                }
            );
        }
        other => panic!("{other:?}"),
    }

    let mut c = coordinator();
    let mut log = Vec::new();
    stable_group_logged(&mut c, 0, 1, &mut log);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].key.as_ref(), &[0, 2, 0, 1, b'g']);
    assert_eq!(&log[0].value.as_deref().unwrap()[..2], &[0, 3]);
    match decode_record(&log[0].key, log[0].value.as_deref()).unwrap() {
        DecodedRecord::GroupMetadata {
            key,
            value: Some(v),
        } => {
            assert_eq!(key.group, "g");
            let GroupMetadataValue {
                protocol_type,
                generation,
                protocol,
                members,
                ..
            } = v;
            assert_eq!(
                (protocol_type.as_str(), generation, protocol.as_deref()),
                ("consumer", 1, Some("range"))
            );
            assert_eq!(members.len(), 1);
            assert_eq!(members[0].subscription, subscription(&["t"]));
            assert_eq!(members[0].assignment.as_ref(), &[0]);
        }
        other => panic!("{other:?}"),
    }
    // KIP-848 records (keys 3-8) go to the consumer group replay; share group records (9+)
    // are skipped; malformed ones are errors.
    assert!(matches!(
        decode_record(&[0, 3, 0, 0], None).unwrap(),
        DecodedRecord::ConsumerGroup { key_version: 3 }
    ));
    assert!(matches!(
        decode_record(&[0, 9, 0, 0], None).unwrap(),
        DecodedRecord::Other { key_version: 9 }
    ));
    assert!(decode_record(&[0], None).is_err());
    assert!(decode_record(&[0, 2, 0, 5, b'g'], None).is_err());
}

/// Goal: replay reproduces state. Method: drive groups through rebalances, a static restart,
/// commits, an offset deletion and a group deletion while logging every record; replay the log
/// into a fresh coordinator; the snapshots match at each stable point.
#[test]
fn replay_of_emitted_records_reproduces_state() {
    let mut c = coordinator();
    let mut log = Vec::new();
    let groups = [GROUP, "simple", "gone"];
    let (ids, generation) = stable_group_logged(&mut c, 0, 3, &mut log);
    for (i, id) in ids.iter().enumerate() {
        let outcome = c.offset_commit(
            10,
            8,
            &commit(GROUP, generation, id, i as i32, 100 + i as i64, -1),
        );
        log.extend(outcome.records);
    }
    log.extend(
        c.offset_commit(20, 8, &commit("simple", -1, "", 0, 7, -1))
            .records,
    );
    log.extend(
        c.offset_commit(20, 8, &commit("gone", -1, "", 0, 8, -1))
            .records,
    );
    assert_eq!(snapshot(&replay_all(&log), &groups), snapshot(&c, &groups));

    // A member leaves and the other two rebalance to generation 2.
    let leave = LeaveGroupRequest {
        group_id: GROUP.to_owned(),
        member_id: ids[2].clone(),
        ..Default::default()
    };
    log.extend(c.leave_group(30, 0, &leave).records);
    let t = pending(&c.join_group(31, client(), 5, &consumer_join(&ids[1])));
    let last = c.join_group(32, client(), 5, &consumer_join(&ids[0]));
    log.extend(last.records.iter().cloned());
    join_completion(&last.completed, t);
    let follower = c.sync_group(33, 3, &sync_request(&ids[1], 2, &[]));
    let leader = c.sync_group(
        33,
        3,
        &sync_request(&ids[0], 2, &[(&ids[0], b"a"), (&ids[1], b"b")]),
    );
    log.extend(follower.records);
    log.extend(leader.records);
    // An offset deletion and a group deletion.
    let delete = protocol::generated::DeleteGroupsRequest {
        groups_names: vec!["gone".to_owned()],
        ..Default::default()
    };
    let outcome = c.delete_groups(40, 2, &delete);
    assert_eq!(
        code(outcome.response.results[0].error_code),
        ErrorCode::None
    );
    log.extend(outcome.records);
    log.extend(
        c.offset_commit(41, 8, &commit("simple", -1, "", 1, 9, -1))
            .records,
    );
    assert_eq!(c.group(GROUP).unwrap().state(), GroupState::Stable);
    let replayed = replay_all(&log);
    assert_eq!(snapshot(&replayed, &groups), snapshot(&c, &groups));
    assert!(replayed.group("gone").is_none());

    // The replayed coordinator serves the loaded members once loading finishes.
    let mut replayed = replayed;
    assert!(replayed.finish_loading(50).is_empty());
    assert_eq!(heartbeat(&mut replayed, 51, &ids[0], 2), ErrorCode::None);
    let sync = ready(replayed.sync_group(52, 3, &sync_request(&ids[1], 2, &[])));
    assert_eq!(sync.assignment.as_ref(), b"b");
    // Loaded members that never heartbeat expire.
    let effects = replayed.poll(51 + i64::from(SESSION_MS) + 1);
    assert!(effects.completed.is_empty());
    assert!(replayed.group(GROUP).unwrap().member(&ids[1]).is_none());
}
