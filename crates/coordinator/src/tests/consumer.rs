//! KIP-848 consumer groups: joining, epochs, incremental reconciliation (a partition is revoked
//! from one member before it is assigned to another), static members, leaving and expiry, regex
//! subscriptions, errors, replay, and a property test of the ownership invariant.
//!
//! Method: simulated clients that behave as KIP-848 clients do (apply the assignment in each
//! response: drop what is gone, take what is new; report what they own in the next heartbeat).

use std::collections::{BTreeMap, BTreeSet};

use protocol::generated::consumer_group_heartbeat_request::TopicPartitions;
use protocol::generated::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use protocol::{ErrorCode, Uuid};

use super::client;
use crate::{GroupConfig, GroupCoordinator, TopicImage, TopicsImage};

const G: &str = "cg";
const T1: Uuid = Uuid([1; 16]);
const T2: Uuid = Uuid([2; 16]);

fn topics(partitions: i32) -> TopicsImage {
    TopicsImage::new([
        TopicImage {
            name: "t1".into(),
            id: T1,
            partitions,
        },
        TopicImage {
            name: "t2".into(),
            id: T2,
            partitions: 2,
        },
    ])
}

/// One simulated KIP-848 client.
#[derive(Debug, Clone, Default)]
struct Client {
    member_id: String,
    epoch: i32,
    instance: Option<String>,
    /// Partitions the client owns now (after applying the last response).
    owned: BTreeSet<(Uuid, i32)>,
    joined: bool,
}

impl Client {
    fn owned_wire(&self) -> Vec<TopicPartitions> {
        let mut by_topic: BTreeMap<Uuid, Vec<i32>> = BTreeMap::new();
        for (t, p) in &self.owned {
            by_topic.entry(*t).or_default().push(*p);
        }
        by_topic
            .into_iter()
            .map(|(topic_id, partitions)| TopicPartitions {
                topic_id,
                partitions,
                ..Default::default()
            })
            .collect()
    }

    fn request(&self, id_hint: &str) -> ConsumerGroupHeartbeatRequest {
        let joining = !self.joined;
        ConsumerGroupHeartbeatRequest {
            group_id: G.into(),
            member_id: if joining && self.member_id.is_empty() {
                id_hint.into()
            } else {
                self.member_id.clone()
            },
            member_epoch: if joining { 0 } else { self.epoch },
            instance_id: self.instance.clone(),
            rebalance_timeout_ms: if joining { 30_000 } else { -1 },
            subscribed_topic_names: joining.then(|| vec!["t1".into()]),
            topic_partitions: Some(if joining { vec![] } else { self.owned_wire() }),
            ..Default::default()
        }
    }

    fn apply(&mut self, response: &ConsumerGroupHeartbeatResponse) {
        let code = ErrorCode::from_code(response.error_code).unwrap();
        if matches!(
            code,
            ErrorCode::FencedMemberEpoch | ErrorCode::UnknownMemberId
        ) {
            // The client loses its partitions and rejoins.
            self.owned.clear();
            self.joined = false;
            self.epoch = 0;
            return;
        }
        assert_eq!(code, ErrorCode::None, "{response:?}");
        self.joined = true;
        self.member_id = response.member_id.clone().unwrap_or_default();
        self.epoch = response.member_epoch;
        if let Some(assignment) = &response.assignment {
            self.owned = assignment
                .topic_partitions
                .iter()
                .flat_map(|t| t.partitions.iter().map(move |p| (t.topic_id, *p)))
                .collect();
        }
    }
}

fn coordinator() -> GroupCoordinator {
    GroupCoordinator::new(GroupConfig::default(), 7, 0)
}

fn beat(
    c: &mut GroupCoordinator,
    now: i64,
    image: &TopicsImage,
    client_: &mut Client,
    hint: &str,
) -> ConsumerGroupHeartbeatResponse {
    let request = client_.request(hint);
    let outcome = c.consumer_group_heartbeat(now, 1, client(), image, &request);
    client_.apply(&outcome.response);
    outcome.response
}

fn assert_disjoint(clients: &[Client]) {
    let mut seen = BTreeSet::new();
    for c in clients {
        for tp in &c.owned {
            assert!(
                seen.insert(*tp),
                "partition {tp:?} owned twice: {clients:#?}"
            );
        }
    }
}

#[test]
fn join_alone_gets_every_partition_then_second_member_waits_for_revocation() {
    // KIP-848 incremental reconciliation: the second member gets partitions only after the
    // first confirms it revoked them.
    let mut c = coordinator();
    let image = topics(6);
    let mut a = Client::default();
    let r = beat(&mut c, 0, &image, &mut a, "a");
    assert_eq!(r.member_epoch, 1);
    assert_eq!(a.owned.len(), 6);
    let mut b = Client::default();
    let r = beat(&mut c, 1, &image, &mut b, "b");
    assert_eq!(r.member_epoch, 2, "b joins at the new epoch");
    assert!(b.owned.is_empty(), "a still owns everything");
    // a's next heartbeat asks it to revoke three: its assignment shrinks, its epoch stays.
    let r = beat(&mut c, 2, &image, &mut a, "a");
    assert_eq!((r.member_epoch, a.owned.len()), (1, 3));
    assert_eq!(
        c.group(G)
            .unwrap()
            .consumer_group()
            .unwrap()
            .state()
            .as_str(),
        "Reconciling"
    );
    // b still waits: a has not confirmed.
    beat(&mut c, 3, &image, &mut b, "b");
    assert!(b.owned.is_empty());
    assert_disjoint(&[a.clone(), b.clone()]);
    // a confirms (owned = 3 partitions) and moves to epoch 2; then b gets the freed three.
    let r = beat(&mut c, 4, &image, &mut a, "a");
    assert_eq!(r.member_epoch, 2);
    beat(&mut c, 5, &image, &mut b, "b");
    assert_eq!(b.owned.len(), 3);
    assert_disjoint(&[a.clone(), b.clone()]);
    assert_eq!(
        c.group(G)
            .unwrap()
            .consumer_group()
            .unwrap()
            .state()
            .as_str(),
        "Stable"
    );
}

#[test]
fn errors_for_bad_heartbeats() {
    let mut c = coordinator();
    let image = topics(3);
    let mut call = |r: ConsumerGroupHeartbeatRequest| {
        ErrorCode::from_code(
            c.consumer_group_heartbeat(0, 1, client(), &image, &r)
                .response
                .error_code,
        )
        .unwrap()
    };
    let join = ConsumerGroupHeartbeatRequest {
        group_id: G.into(),
        member_id: "m".into(),
        rebalance_timeout_ms: 1000,
        subscribed_topic_names: Some(vec!["t1".into()]),
        topic_partitions: Some(vec![]),
        ..Default::default()
    };
    assert_eq!(
        call(ConsumerGroupHeartbeatRequest {
            group_id: "".into(),
            ..join.clone()
        }),
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        call(ConsumerGroupHeartbeatRequest {
            rebalance_timeout_ms: -1,
            ..join.clone()
        }),
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        call(ConsumerGroupHeartbeatRequest {
            server_assignor: Some("sticky".into()),
            ..join.clone()
        }),
        ErrorCode::UnsupportedAssignor
    );
    assert_eq!(
        call(ConsumerGroupHeartbeatRequest {
            subscribed_topic_regex: Some("(".into()),
            ..join.clone()
        }),
        ErrorCode::InvalidRegularExpression
    );
    assert_eq!(
        call(ConsumerGroupHeartbeatRequest {
            member_epoch: 5,
            ..join.clone()
        }),
        ErrorCode::UnknownMemberId
    );
    assert_eq!(
        call(ConsumerGroupHeartbeatRequest {
            member_epoch: -2,
            ..join.clone()
        }),
        ErrorCode::InvalidRequest
    );
    assert_eq!(call(join.clone()), ErrorCode::None);
    assert_eq!(
        call(ConsumerGroupHeartbeatRequest {
            member_epoch: 7,
            topic_partitions: None,
            ..join.clone()
        }),
        ErrorCode::FencedMemberEpoch
    );
    assert_eq!(
        call(ConsumerGroupHeartbeatRequest {
            member_id: "other".into(),
            member_epoch: 1,
            ..join.clone()
        }),
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn group_max_size_and_static_members() {
    let mut c = GroupCoordinator::new(
        GroupConfig {
            group_max_size: 1,
            ..GroupConfig::default()
        },
        1,
        0,
    );
    let image = topics(4);
    let mut a = Client {
        instance: Some("i-a".into()),
        ..Default::default()
    };
    beat(&mut c, 0, &image, &mut a, "a1");
    assert_eq!(a.owned.len(), 4);
    let mut b = Client::default();
    let r = c.consumer_group_heartbeat(0, 1, client(), &image, &b.request("b"));
    assert_eq!(
        ErrorCode::from_code(r.response.error_code).unwrap(),
        ErrorCode::GroupMaxSizeReached
    );
    let _ = &mut b;
    // A second incarnation of i-a while the first is active: UNRELEASED_INSTANCE_ID.
    let mut a2 = Client {
        instance: Some("i-a".into()),
        ..Default::default()
    };
    let r = c.consumer_group_heartbeat(1, 1, client(), &image, &a2.request("a2"));
    assert_eq!(
        ErrorCode::from_code(r.response.error_code).unwrap(),
        ErrorCode::UnreleasedInstanceId
    );
    // Temporary leave (-2), then the new incarnation takes over without a new group epoch.
    let epoch_before = c.group(G).unwrap().consumer_group().unwrap().group_epoch;
    let leave = ConsumerGroupHeartbeatRequest {
        member_epoch: -2,
        ..a.request("a1")
    };
    let leave = ConsumerGroupHeartbeatRequest {
        member_id: a.member_id.clone(),
        ..leave
    };
    let r = c
        .consumer_group_heartbeat(2, 1, client(), &image, &leave)
        .response;
    assert_eq!((r.error_code, r.member_epoch), (0, -2));
    beat(&mut c, 3, &image, &mut a2, "a2");
    assert_eq!(a2.owned.len(), 4, "the same partitions, no rebalance");
    assert_eq!(
        c.group(G).unwrap().consumer_group().unwrap().group_epoch,
        epoch_before
    );
}

#[test]
fn leave_and_session_expiry_free_partitions() {
    let mut c = coordinator();
    let image = topics(4);
    let (mut a, mut b) = (Client::default(), Client::default());
    for now in 0..6 {
        beat(&mut c, now, &image, &mut a, "a");
        beat(&mut c, now, &image, &mut b, "b");
    }
    assert_eq!((a.owned.len(), b.owned.len()), (2, 2));
    // b leaves: a gets its partitions at its next heartbeat.
    let leave = ConsumerGroupHeartbeatRequest {
        member_epoch: -1,
        ..b.request("b")
    };
    assert_eq!(
        c.consumer_group_heartbeat(10, 1, client(), &image, &leave)
            .response
            .member_epoch,
        -1
    );
    beat(&mut c, 11, &image, &mut a, "a");
    assert_eq!(a.owned.len(), 4);
    // a stops heartbeating: after the session timeout it is gone and the group is Empty.
    let fx = c.poll(11 + 45_000);
    assert!(!fx.records.is_empty());
    assert_eq!(c.group(G).unwrap().state_name(), "Empty");
}

#[test]
fn regex_subscription_follows_new_topics() {
    let mut c = coordinator();
    let mut a = Client::default();
    let image = topics(2);
    let mut join = a.request("a");
    join.subscribed_topic_names = None;
    join.subscribed_topic_regex = Some("t.*".into());
    let r = c.consumer_group_heartbeat(0, 1, client(), &image, &join);
    a.apply(&r.response);
    assert_eq!(a.owned.len(), 4, "t1 (2) and t2 (2)");
    let more = TopicsImage::new(image.topics().cloned().chain([TopicImage {
        name: "t3".into(),
        id: Uuid([3; 16]),
        partitions: 1,
    }]));
    beat(&mut c, 1, &more, &mut a, "a");
    assert_eq!(a.owned.len(), 5, "the new topic is assigned");
}

#[test]
fn replay_rebuilds_the_group() {
    let mut c = coordinator();
    let image = topics(6);
    let (mut a, mut b) = (Client::default(), Client::default());
    let mut records = Vec::new();
    for now in 0..5 {
        for (cl, hint) in [(&mut a, "a"), (&mut b, "b")] {
            let out = c.consumer_group_heartbeat(now, 1, client(), &image, &cl.request(hint));
            cl.apply(&out.response);
            records.extend(out.records);
        }
    }
    let mut loaded = coordinator();
    for r in &records {
        loaded.replay(&r.key, r.value.as_deref()).unwrap();
    }
    loaded.finish_loading(10);
    let (x, y) = (
        c.group(G).unwrap().consumer_group().unwrap(),
        loaded.group(G).unwrap().consumer_group().unwrap(),
    );
    assert_eq!(
        (x.group_epoch, x.assignment_epoch),
        (y.group_epoch, y.assignment_epoch)
    );
    assert_eq!(x.members, y.members);
    assert_eq!(x.target, y.target);
    // The loaded coordinator goes on answering the same members.
    let r = beat(&mut loaded, 11, &image, &mut a, "a");
    assert_eq!(r.error_code, 0);
}

mod property {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Heartbeat(usize),
        Leave(usize),
        Crash(usize),
        Restart(usize),
        MorePartitions,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0..5usize).prop_map(Op::Heartbeat),
            1 => (0..5usize).prop_map(Op::Leave),
            1 => (0..5usize).prop_map(Op::Crash),
            1 => (0..5usize).prop_map(Op::Restart),
            1 => Just(Op::MorePartitions),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
        /// KIP-848's safety property: whatever the order of joins, leaves, crashes and
        /// heartbeats, no partition is ever owned by two clients; and once everyone heartbeats
        /// for a while the group is Stable with every partition owned exactly once.
        #[test]
        fn no_partition_has_two_owners(ops in proptest::collection::vec(op(), 1..120), range in any::<bool>()) {
            let mut c = coordinator();
            let mut partitions = 6;
            let mut image = topics(partitions);
            let mut clients: Vec<Client> = vec![Client::default(); 5];
            let mut alive = [true; 5];
            let mut now = 0i64;
            for op in ops {
                now += 100;
                match op {
                    Op::Heartbeat(i) if alive[i] => {
                        let mut req = clients[i].request(&format!("m{i}"));
                        if range && req.member_epoch == 0 { req.server_assignor = Some("range".into()); }
                        let out = c.consumer_group_heartbeat(now, 1, client(), &image, &req);
                        clients[i].apply(&out.response);
                    }
                    Op::Leave(i) if alive[i] && clients[i].joined => {
                        let req = ConsumerGroupHeartbeatRequest { member_epoch: -1, ..clients[i].request("") };
                        c.consumer_group_heartbeat(now, 1, client(), &image, &req);
                        clients[i] = Client::default();
                    }
                    Op::Crash(i) => {
                        alive[i] = false;
                        clients[i] = Client::default();
                    }
                    Op::Restart(i) => alive[i] = true,
                    Op::MorePartitions => {
                        partitions = (partitions + 1).min(12);
                        image = topics(partitions);
                    }
                    _ => {}
                }
                // Dead clients' sessions run out as time passes.
                c.poll(now);
                assert_disjoint(&clients);
            }
            // Everyone alive heartbeats until the group settles; crashed ones expire.
            // (Every second, as live clients do, for longer than the session timeout.)
            for _ in 0..60 {
                now += 1_000;
                c.poll(now);
                for i in 0..5 {
                    if alive[i] {
                        let req = clients[i].request(&format!("m{i}"));
                        let out = c.consumer_group_heartbeat(now, 1, client(), &image, &req);
                        clients[i].apply(&out.response);
                        assert_disjoint(&clients);
                    }
                }
            }
            if alive.iter().any(|a| *a) {
                let group = c.group(G).unwrap().consumer_group().unwrap();
                prop_assert_eq!(group.state().as_str(), "Stable");
                let owned: usize = clients.iter().map(|c| c.owned.iter().filter(|(t, _)| *t == T1).count()).sum();
                prop_assert_eq!(owned, partitions as usize, "every partition of t1 is owned once");
            }
        }
    }
}

/// franz-go's TestTxnEtl with KIP-848 groups: a member commits offsets in a transaction with
/// TxnOffsetCommit (v5 at most), which the OffsetCommit v9+ rule must not refuse; a stale epoch
/// is ILLEGAL_GENERATION (TxnOffsetCommit has no STALE_MEMBER_EPOCH).
#[test]
fn a_consumer_group_member_commits_offsets_in_a_transaction() {
    use protocol::generated::TxnOffsetCommitRequest;
    use protocol::generated::txn_offset_commit_request::{
        TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    };
    let mut c = coordinator();
    let image = topics(2);
    let mut member = Client::default();
    beat(&mut c, 0, &image, &mut member, "m1");
    let commit = |epoch: i32| TxnOffsetCommitRequest {
        transactional_id: "tx".into(),
        group_id: G.into(),
        producer_id: 4,
        producer_epoch: 0,
        generation_id_or_member_epoch: epoch,
        member_id: member.member_id.clone(),
        topics: vec![TxnOffsetCommitRequestTopic {
            name: "t1".into(),
            partitions: vec![TxnOffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: 5,
                committed_leader_epoch: -1,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let code =
        |outcome: crate::TxnCommitOutcome| outcome.response.topics[0].partitions[0].error_code;
    assert_eq!(code(c.txn_offset_commit(1, &commit(member.epoch))), 0);
    assert_eq!(
        code(c.txn_offset_commit(2, &commit(member.epoch + 5))),
        ErrorCode::IllegalGeneration.code()
    );
}
