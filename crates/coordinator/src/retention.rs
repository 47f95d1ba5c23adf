//! The `offsets.retention.minutes` purge: every `offsets.retention.check.interval.ms`, expired
//! offsets are tombstoned and Empty groups left without offsets are deleted (Kafka's
//! `cleanupGroupMetadata` and `offsetExpirationCondition`).

use crate::coordinator::{Effects, GroupCoordinator};
use crate::group::{CONSUMER_PROTOCOL_TYPE, GroupState};
use crate::records;

impl GroupCoordinator {
    /// The retention purge (Kafka's `cleanupGroupMetadata`): expired offsets are tombstoned, and
    /// an Empty group left with no offsets is deleted.
    pub(crate) fn cleanup_group_metadata(&mut self, now_ms: i64, fx: &mut Effects) {
        let mut group_ids: Vec<String> = self.groups.keys().cloned().collect();
        group_ids.sort();
        for group_id in group_ids {
            if self.cleanup_expired_offsets(now_ms, &group_id, fx)
                && self.groups[&group_id].state == GroupState::Empty
                && !self.groups[&group_id].has_members()
            {
                self.delete_group(&group_id, fx);
            }
        }
    }

    /// Tombstones the group's expired offsets; true when none is left.
    fn cleanup_expired_offsets(&mut self, now_ms: i64, group_id: &str, fx: &mut Effects) -> bool {
        let retention_ms = self.config.offsets_retention_ms;
        let group = self.groups.get_mut(group_id).expect("listed group");
        if group.offsets.is_empty() {
            return true;
        }
        // Kafka's offsetExpirationCondition: what an offset's age is measured from, if anything.
        let since_ms: Option<Option<i64>> = match (&group.protocol_type, group.state) {
            // A consumer-protocol group with members knows its topics: others age from commit.
            _ if group.has_members() && group.consumer.is_some() => Some(None),
            // A simple group: from each commit.
            (None, _) => Some(None),
            // An empty group: from when it became empty (or each commit, for old records).
            (Some(_), GroupState::Empty) => Some(group.state_timestamp_ms),
            // A stable consumer group that knows its topics: offsets of other topics age from commit.
            (Some(t), GroupState::Stable)
                if t == CONSUMER_PROTOCOL_TYPE && group.subscribed_topics.is_some() =>
            {
                Some(None)
            }
            _ => None,
        };
        let Some(since_ms) = since_ms else {
            return false;
        };
        let mut expired = Vec::new();
        let mut all_expired = true;
        for (topic, partitions) in &group.offsets {
            if group.is_subscribed_to_topic(topic) {
                all_expired = false;
                continue;
            }
            for (partition, offset) in partitions {
                let is_expired = match offset.expire_timestamp_ms {
                    Some(expire_ms) => now_ms >= expire_ms,
                    None => now_ms - since_ms.unwrap_or(offset.commit_timestamp_ms) >= retention_ms,
                };
                if is_expired {
                    expired.push((topic.clone(), *partition));
                } else {
                    all_expired = false;
                }
            }
        }
        for (topic, partition) in expired {
            group.remove_offset(&topic, partition);
            fx.records.push(records::offset_commit_tombstone(
                group_id, &topic, partition,
            ));
        }
        all_expired
    }
}
