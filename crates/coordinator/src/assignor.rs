//! KIP-848 server-side assignors: `uniform` (Kafka's default: balanced and sticky) and `range`
//! (per topic, contiguous ranges over the members sorted by id, as the classic RangeAssignor).
//!
//! An assignor maps each member's resolved subscription (topic names that exist) to a target
//! assignment. It is a pure function of its inputs; the coordinator decides when to run it
//! (whenever the group epoch moves past the assignment epoch).
//! Invariant of every result: each partition of a subscribed topic is assigned to exactly one
//! member subscribed to its topic, and no other partition is assigned.

use std::collections::{BTreeMap, BTreeSet};

use crate::consumer_group::Assignment;
use crate::topics::TopicsImage;

/// Kafka's default server assignor.
pub const UNIFORM_ASSIGNOR: &str = "uniform";
pub const RANGE_ASSIGNOR: &str = "range";
/// The assignors a client may name in `server_assignor`.
pub const ASSIGNORS: [&str; 2] = [UNIFORM_ASSIGNOR, RANGE_ASSIGNOR];

/// Computes the target assignment with the named assignor (`uniform` when unknown).
pub fn assign(
    assignor: &str,
    subscriptions: &BTreeMap<String, BTreeSet<String>>,
    topics: &TopicsImage,
    previous: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    let mut target: BTreeMap<String, Assignment> = subscriptions
        .keys()
        .map(|m| (m.clone(), Assignment::new()))
        .collect();
    if assignor == RANGE_ASSIGNOR {
        assign_range(subscriptions, topics, &mut target);
    } else {
        assign_uniform(subscriptions, topics, previous, &mut target);
    }
    target
}

/// Members subscribed to each existing topic, sorted by member id.
fn subscribers_by_topic<'a>(
    subscriptions: &'a BTreeMap<String, BTreeSet<String>>,
    topics: &TopicsImage,
) -> BTreeMap<&'a str, Vec<&'a str>> {
    let mut by_topic: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (member, subscribed) in subscriptions {
        for topic in subscribed {
            if topics.topic(topic).is_some() {
                by_topic.entry(topic).or_default().push(member);
            }
        }
    }
    by_topic
}

fn assign_range(
    subscriptions: &BTreeMap<String, BTreeSet<String>>,
    topics: &TopicsImage,
    target: &mut BTreeMap<String, Assignment>,
) {
    for (topic, members) in subscribers_by_topic(subscriptions, topics) {
        let image = topics.topic(topic).expect("filtered to existing topics");
        let count = image.partitions.max(0) as usize;
        let per_member = count / members.len();
        let extra = count % members.len();
        let mut next = 0usize;
        for (index, member) in members.iter().enumerate() {
            let take = per_member + usize::from(index < extra);
            let partitions = (next..next + take).map(|p| p as i32);
            next += take;
            let assignment = target.get_mut(*member).expect("every member has an entry");
            if take > 0 {
                assignment.entry(image.id).or_default().extend(partitions);
            }
        }
    }
}

/// Balanced and sticky: members keep the partitions they had, up to their share; the rest go
/// one by one to the least loaded subscribed member; then, while one member holds two more
/// than another that could take one of its partitions, a partition moves.
fn assign_uniform(
    subscriptions: &BTreeMap<String, BTreeSet<String>>,
    topics: &TopicsImage,
    previous: &BTreeMap<String, Assignment>,
    target: &mut BTreeMap<String, Assignment>,
) {
    let by_topic = subscribers_by_topic(subscriptions, topics);
    let total: usize = by_topic
        .keys()
        .map(|t| topics.topic(t).map_or(0, |i| i.partitions.max(0) as usize))
        .sum();
    if subscriptions.is_empty() || total == 0 {
        return;
    }
    // A member's share: its fair part of each topic it reads, rounded up.
    let share = |member: &str| -> usize {
        let mut share = 0f64;
        for (topic, members) in &by_topic {
            if members.contains(&member) {
                let n = topics.topic(topic).map_or(0, |i| i.partitions.max(0));
                share += f64::from(n) / members.len() as f64;
            }
        }
        share.ceil() as usize
    };
    let mut load: BTreeMap<&str, usize> = subscriptions.keys().map(|m| (m.as_str(), 0)).collect();
    let mut owner: BTreeMap<(&str, i32), &str> = BTreeMap::new();
    // 1. Stickiness.
    for (member, subscribed) in subscriptions {
        let Some(had) = previous.get(member) else {
            continue;
        };
        let limit = share(member);
        for (topic, members) in &by_topic {
            if !subscribed.contains(*topic) {
                continue;
            }
            let image = topics.topic(topic).expect("existing topic");
            let Some(partitions) = had.get(&image.id) else {
                continue;
            };
            for &p in partitions {
                if p < image.partitions
                    && load[member.as_str()] < limit
                    && members.contains(&member.as_str())
                    && !owner.contains_key(&(*topic, p))
                {
                    owner.insert((*topic, p), member.as_str());
                    *load.get_mut(member.as_str()).expect("member") += 1;
                }
            }
        }
    }
    // 2. The rest to the least loaded subscriber.
    for (topic, members) in &by_topic {
        let image = topics.topic(topic).expect("existing topic");
        for p in 0..image.partitions {
            if owner.contains_key(&(*topic, p)) {
                continue;
            }
            let least = members
                .iter()
                .min_by_key(|m| (load[**m], **m))
                .expect("a topic in by_topic has subscribers");
            owner.insert((*topic, p), least);
            *load.get_mut(*least).expect("member") += 1;
        }
    }
    // 3. Balance: bounded by the partition count squared (each move lowers the spread).
    for _ in 0..total.saturating_mul(total).min(1_000_000) {
        let mut moved = false;
        let mut keys: Vec<(&str, i32)> = owner.keys().copied().collect();
        keys.sort_by_key(|k| std::cmp::Reverse(load[owner[k]]));
        for key in keys {
            let from = owner[&key];
            let to = by_topic[key.0]
                .iter()
                .copied()
                .min_by_key(|m| (load[*m], *m))
                .expect("subscribers");
            if load[to] + 1 < load[from] {
                owner.insert(key, to);
                *load.get_mut(from).expect("member") -= 1;
                *load.get_mut(to).expect("member") += 1;
                moved = true;
                break;
            }
        }
        if !moved {
            break;
        }
    }
    for ((topic, p), member) in owner {
        let id = topics.topic(topic).expect("existing topic").id;
        target
            .get_mut(member)
            .expect("every member has an entry")
            .entry(id)
            .or_default()
            .insert(p);
    }
}
