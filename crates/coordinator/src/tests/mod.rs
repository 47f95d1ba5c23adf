//! Unit tests of the coordinator, by behaviour: a fake clock (explicit `now_ms`) and helpers
//! that build requests the way Kafka clients do.

mod admin;
mod bounds;
mod consumer;
mod offsets;
mod rebalance;
mod replay;
mod static_members;
mod txn_offsets;

use bytes::Bytes;
use protocol::generated::join_group_request::JoinGroupRequestProtocol;
use protocol::generated::sync_group_request::SyncGroupRequestAssignment;
use protocol::generated::{
    ConsumerProtocolSubscription, HeartbeatRequest, JoinGroupRequest, JoinGroupResponse,
    SyncGroupRequest, SyncGroupResponse,
};
use protocol::{Encoder, ErrorCode, Message};

use crate::{
    ClientInfo, Completion, Effects, GroupConfig, GroupCoordinator, Outcome, Reply, Ticket,
};

pub(crate) const GROUP: &str = "g";
pub(crate) const SESSION_MS: i32 = 10_000;
pub(crate) const REBALANCE_MS: i32 = 30_000;

pub(crate) fn config() -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    }
}

pub(crate) fn coordinator() -> GroupCoordinator {
    GroupCoordinator::new(config(), 42, 0)
}

pub(crate) fn client() -> ClientInfo<'static> {
    ClientInfo {
        client_id: "client",
        client_host: "/127.0.0.1",
    }
}

/// A consumer subscription as the Java client writes it (version prefix, then the struct).
pub(crate) fn subscription(topics: &[&str]) -> Bytes {
    let subscription = ConsumerProtocolSubscription {
        topics: topics.iter().map(|t| (*t).to_owned()).collect(),
        ..Default::default()
    };
    let mut encoder = Encoder::new();
    encoder.put_i16(1);
    subscription.encode(&mut encoder, 1).unwrap();
    encoder.finish().unwrap()
}

pub(crate) fn join_request(
    member_id: &str,
    instance: Option<&str>,
    protocols: &[(&str, Bytes)],
) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: GROUP.to_owned(),
        session_timeout_ms: SESSION_MS,
        rebalance_timeout_ms: REBALANCE_MS,
        member_id: member_id.to_owned(),
        group_instance_id: instance.map(str::to_owned),
        protocol_type: "consumer".to_owned(),
        protocols: protocols
            .iter()
            .map(|(name, metadata)| JoinGroupRequestProtocol {
                name: (*name).to_owned(),
                metadata: metadata.clone(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// A range-assignor consumer of topic `t`.
pub(crate) fn consumer_join(member_id: &str) -> JoinGroupRequest {
    join_request(member_id, None, &[("range", subscription(&["t"]))])
}

pub(crate) fn sync_request(
    member_id: &str,
    generation_id: i32,
    assignments: &[(&str, &[u8])],
) -> SyncGroupRequest {
    SyncGroupRequest {
        group_id: GROUP.to_owned(),
        generation_id,
        member_id: member_id.to_owned(),
        assignments: assignments
            .iter()
            .map(|(member, bytes)| SyncGroupRequestAssignment {
                member_id: (*member).to_owned(),
                assignment: Bytes::copy_from_slice(bytes),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

pub(crate) fn heartbeat(
    c: &mut GroupCoordinator,
    now_ms: i64,
    member_id: &str,
    generation_id: i32,
) -> ErrorCode {
    let request = HeartbeatRequest {
        group_id: GROUP.to_owned(),
        generation_id,
        member_id: member_id.to_owned(),
        ..Default::default()
    };
    code(c.heartbeat(now_ms, 4, &request).error_code)
}

pub(crate) fn code(raw: i16) -> ErrorCode {
    ErrorCode::from_code(raw).expect("known error code")
}

pub(crate) fn ready<R: std::fmt::Debug>(outcome: Outcome<Reply<R>>) -> R {
    match outcome.response {
        Reply::Ready(response) => response,
        Reply::Pending(ticket) => panic!("expected a ready response, got pending {ticket:?}"),
    }
}

pub(crate) fn pending<R: std::fmt::Debug>(outcome: &Outcome<Reply<R>>) -> Ticket {
    match &outcome.response {
        Reply::Pending(ticket) => *ticket,
        Reply::Ready(response) => panic!("expected pending, got {response:?}"),
    }
}

pub(crate) fn join_completion(completed: &[Completion], ticket: Ticket) -> JoinGroupResponse {
    completed
        .iter()
        .find_map(|c| match c {
            Completion::Join {
                ticket: t,
                response,
            } if *t == ticket => Some(response.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no join completion for {ticket:?} in {completed:?}"))
}

pub(crate) fn sync_completion(completed: &[Completion], ticket: Ticket) -> SyncGroupResponse {
    completed
        .iter()
        .find_map(|c| match c {
            Completion::Sync {
                ticket: t,
                response,
            } if *t == ticket => Some(response.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no sync completion for {ticket:?} in {completed:?}"))
}

/// Joins `n` dynamic members with JoinGroup v5 (KIP-394 round trip included), syncs them with
/// the leader assigning `member-index` bytes, and returns the member ids (leader first) and
/// the generation. Time stays at `now_ms` (initial delay 0 completes on the next poll).
pub(crate) fn stable_group(c: &mut GroupCoordinator, now_ms: i64, n: usize) -> (Vec<String>, i32) {
    stable_group_logged(c, now_ms, n, &mut Vec::new())
}

/// `stable_group`, appending every record the coordinator emits to `log`.
pub(crate) fn stable_group_logged(
    c: &mut GroupCoordinator,
    now_ms: i64,
    n: usize,
    log: &mut Vec<crate::CoordinatorRecord>,
) -> (Vec<String>, i32) {
    let mut tickets = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..n {
        let required = ready(c.join_group(now_ms, client(), 5, &consumer_join("")));
        assert_eq!(code(required.error_code), ErrorCode::MemberIdRequired);
        let outcome = c.join_group(now_ms, client(), 5, &consumer_join(&required.member_id));
        log.extend(outcome.records.iter().cloned());
        tickets.push(pending(&outcome));
        ids.push(required.member_id);
    }
    let effects = c.poll(now_ms);
    log.extend(effects.records.iter().cloned());
    let responses: Vec<JoinGroupResponse> = tickets
        .iter()
        .map(|t| join_completion(&effects.completed, *t))
        .collect();
    let generation = responses[0].generation_id;
    let leader = responses[0].leader.clone();
    assert_eq!(leader, ids[0], "the first joiner leads");
    let mut follower_tickets = Vec::new();
    for id in ids.iter().skip(1) {
        follower_tickets.push(pending(&c.sync_group(
            now_ms,
            3,
            &sync_request(id, generation, &[]),
        )));
    }
    let assignments: Vec<(String, Vec<u8>)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), vec![i as u8]))
        .collect();
    let refs: Vec<(&str, &[u8])> = assignments
        .iter()
        .map(|(id, a)| (id.as_str(), a.as_slice()))
        .collect();
    let outcome = c.sync_group(now_ms, 3, &sync_request(&leader, generation, &refs));
    assert_eq!(outcome.records.len(), 1, "the assignment is persisted");
    log.extend(outcome.records.iter().cloned());
    for (i, ticket) in follower_tickets.iter().enumerate() {
        let response = sync_completion(&outcome.completed, *ticket);
        assert_eq!(response.assignment.as_ref(), &[(i + 1) as u8]);
    }
    assert_eq!(ready(outcome).assignment.as_ref(), &[0u8]);
    (ids, generation)
}
