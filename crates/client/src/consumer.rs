//! A consumer of one topic: partitions read directly (all, or the ones given, from a start
//! position), or as a member of a KIP-848 consumer group whose coordinator assigns them.
//!
//! Positions: `fetch_positions` is where the next fetch starts, `positions` what the caller
//! has been handed (the offset after the last record `poll` returned). Only `positions` is
//! committed, so a caller that stops after N records commits exactly those N. A group member
//! commits every `auto_commit_interval`, before giving up partitions, and when it closes.
//!
//! Invariant: `positions[p] <= fetch_positions[p]`, and records are fetched only once the
//! buffer of the previous fetch is empty.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use protocol::ErrorCode;

use crate::fetch::{ConsumerRecord, OffsetSpec};
use crate::group::Committer;
use crate::member::{GroupMember, HeartbeatOutcome};
use crate::{Client, ClientError, TopicMetadata};

/// Where a partition starts when it has no committed offset (or for a direct read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    Earliest,
    Latest,
    /// Only for direct reads: this offset in every partition read.
    Offset(i64),
    /// The first record at or after this time (ms).
    Timestamp(i64),
}

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub topic: String,
    /// Direct reads: these partitions (`None`: all). Ignored with a group.
    pub partitions: Option<Vec<i32>>,
    /// A KIP-848 group to join; its committed offsets come first.
    pub group: Option<String>,
    pub start: StartAt,
    /// Longest a `poll` waits for records.
    pub poll_wait: Duration,
    pub auto_commit_interval: Duration,
}

impl ConsumerConfig {
    pub fn new(topic: &str) -> ConsumerConfig {
        ConsumerConfig {
            topic: topic.to_string(),
            partitions: None,
            group: None,
            start: StartAt::Latest,
            poll_wait: Duration::from_millis(500),
            auto_commit_interval: Duration::from_secs(5),
        }
    }
}

pub struct Consumer {
    topic: TopicMetadata,
    config: ConsumerConfig,
    member: Option<GroupMember>,
    fetch_positions: BTreeMap<i32, i64>,
    positions: BTreeMap<i32, i64>,
    /// What was last committed, to skip commits that change nothing.
    committed: BTreeMap<i32, i64>,
    buffer: VecDeque<ConsumerRecord>,
    next_commit: Instant,
}

impl Consumer {
    pub async fn new(client: &mut Client, config: ConsumerConfig) -> Result<Consumer, ClientError> {
        let topic = client.topic(&config.topic).await?;
        let mut consumer = Consumer {
            member: match &config.group {
                Some(group) => Some(GroupMember::new(group, vec![topic.name.clone()])?),
                None => None,
            },
            topic,
            next_commit: Instant::now() + config.auto_commit_interval,
            config,
            fetch_positions: BTreeMap::new(),
            positions: BTreeMap::new(),
            committed: BTreeMap::new(),
            buffer: VecDeque::new(),
        };
        if consumer.member.is_none() {
            let partitions: Vec<i32> = match &consumer.config.partitions {
                Some(partitions) => {
                    for &partition in partitions {
                        consumer.topic.require_partition(partition)?;
                    }
                    partitions.clone()
                }
                None => consumer
                    .topic
                    .partitions
                    .iter()
                    .map(|p| p.partition)
                    .collect(),
            };
            let start = consumer
                .start_offsets(client, &partitions, consumer.config.start)
                .await?;
            consumer.fetch_positions = start.clone();
            consumer.positions = start;
        }
        Ok(consumer)
    }

    pub fn topic(&self) -> &TopicMetadata {
        &self.topic
    }

    /// The partitions read now, with the position of each.
    pub fn positions(&self) -> &BTreeMap<i32, i64> {
        &self.positions
    }

    /// The group member, when reading as one.
    pub fn member(&self) -> Option<&GroupMember> {
        self.member.as_ref()
    }

    /// Up to `records_max` records, waiting at most `poll_wait` for some; heartbeats and
    /// commits when due.
    pub async fn poll(
        &mut self,
        client: &mut Client,
        records_max: usize,
    ) -> Result<Vec<ConsumerRecord>, ClientError> {
        if self.member.is_some() {
            self.run_membership(client).await?;
        }
        if self.buffer.is_empty() {
            self.positions.clone_from(&self.fetch_positions);
            if self.fetch_positions.is_empty() {
                // Nothing assigned yet: wait for the next heartbeat rather than spin.
                let until = self.member.as_ref().map_or(
                    Instant::now() + self.config.poll_wait,
                    GroupMember::next_heartbeat,
                );
                tokio::time::sleep_until(until.min(Instant::now() + self.config.poll_wait).into())
                    .await;
                return Ok(Vec::new());
            }
            let mut wait = self.config.poll_wait;
            if let Some(member) = &self.member {
                wait = wait.min(
                    member
                        .next_heartbeat()
                        .saturating_duration_since(Instant::now()),
                );
            }
            let fetched = client
                .fetch(&self.topic, &self.fetch_positions, wait)
                .await?;
            self.buffer.extend(fetched.records);
            self.fetch_positions.extend(fetched.positions);
            self.handle_fetch_errors(client, &fetched.errors).await?;
        }
        let count = records_max.min(self.buffer.len());
        let records: Vec<ConsumerRecord> = self.buffer.drain(..count).collect();
        for record in &records {
            self.positions.insert(record.partition, record.offset + 1);
        }
        if self.buffer.is_empty() {
            // Past control batches too.
            self.positions.clone_from(&self.fetch_positions);
        }
        Ok(records)
    }

    async fn handle_fetch_errors(
        &mut self,
        client: &mut Client,
        errors: &[(i32, i16)],
    ) -> Result<(), ClientError> {
        let mut refresh = false;
        for &(partition, code) in errors {
            match ErrorCode::from_code(code) {
                Some(ErrorCode::OffsetOutOfRange) => {
                    // auto.offset.reset: earliest when reading from the beginning, else latest.
                    let reset = if self.config.start == StartAt::Earliest {
                        OffsetSpec::Earliest
                    } else {
                        OffsetSpec::Latest
                    };
                    let offsets = client
                        .list_offsets(&self.topic, &[partition], reset)
                        .await?;
                    if let Some(&offset) = offsets.get(&partition) {
                        self.fetch_positions.insert(partition, offset);
                        self.positions.insert(partition, offset);
                    }
                }
                Some(code) if code.is_retriable() => refresh = true,
                _ => {
                    return Err(ClientError::from_code(
                        format!("fetching topic {} partition {partition}", self.topic.name),
                        code,
                        None,
                    ));
                }
            }
        }
        if refresh {
            tokio::time::sleep(crate::RETRY_BACKOFF).await;
            self.topic = client.topic(&self.topic.name).await?;
        }
        Ok(())
    }

    /// Heartbeats when due and applies a new assignment; commits when due.
    async fn run_membership(&mut self, client: &mut Client) -> Result<(), ClientError> {
        let member = self.member.as_mut().expect("a group member");
        if Instant::now() >= member.next_heartbeat() {
            match member.heartbeat(client).await? {
                HeartbeatOutcome::Unchanged => {}
                HeartbeatOutcome::Fenced => {
                    // The partitions are someone else's now: forget them uncommitted.
                    self.fetch_positions.clear();
                    self.positions.clear();
                    self.committed.clear();
                    self.buffer.clear();
                }
                HeartbeatOutcome::Assigned(assignment) => {
                    let mine: Vec<i32> = assignment
                        .get(&self.topic.topic_id)
                        .map(|p| p.iter().copied().collect())
                        .unwrap_or_default();
                    self.reassign(client, &mine).await?;
                    self.member
                        .as_mut()
                        .expect("a group member")
                        .accept(assignment);
                }
            }
        }
        if Instant::now() >= self.next_commit {
            self.commit(client).await?;
        }
        Ok(())
    }

    /// Gives up the partitions not in `partitions` (committing them first) and starts the new
    /// ones at their committed offset, or at `start` without one.
    async fn reassign(
        &mut self,
        client: &mut Client,
        partitions: &[i32],
    ) -> Result<(), ClientError> {
        let revoked: Vec<i32> = self
            .positions
            .keys()
            .filter(|p| !partitions.contains(p))
            .copied()
            .collect();
        if !revoked.is_empty() {
            self.commit(client).await?;
            for partition in &revoked {
                self.positions.remove(partition);
                self.fetch_positions.remove(partition);
                self.committed.remove(partition);
            }
            self.buffer.retain(|r| !revoked.contains(&r.partition));
        }
        let added: Vec<i32> = partitions
            .iter()
            .filter(|p| !self.positions.contains_key(p))
            .copied()
            .collect();
        if added.is_empty() {
            return Ok(());
        }
        if added.iter().any(|&p| self.topic.partition(p).is_none()) {
            // Partitions created after this consumer read the metadata.
            self.topic = client.topic(&self.topic.name).await?;
        }
        let group = self.config.group.clone().expect("a group");
        let committed = client.committed_offsets(&group, Some(&self.topic)).await?;
        let mut missing = Vec::new();
        for &partition in &added {
            match committed.iter().find(|c| c.partition == partition) {
                Some(c) => {
                    self.positions.insert(partition, c.offset);
                    self.fetch_positions.insert(partition, c.offset);
                    self.committed.insert(partition, c.offset);
                }
                None => missing.push(partition),
            }
        }
        if !missing.is_empty() {
            let start = self
                .start_offsets(client, &missing, self.config.start)
                .await?;
            self.fetch_positions
                .extend(start.iter().map(|(p, o)| (*p, *o)));
            self.positions.extend(start);
        }
        Ok(())
    }

    async fn start_offsets(
        &self,
        client: &mut Client,
        partitions: &[i32],
        start: StartAt,
    ) -> Result<BTreeMap<i32, i64>, ClientError> {
        let spec = match start {
            StartAt::Earliest => OffsetSpec::Earliest,
            StartAt::Latest => OffsetSpec::Latest,
            StartAt::Timestamp(ms) => OffsetSpec::Timestamp(ms),
            StartAt::Offset(offset) => {
                return Ok(partitions.iter().map(|&p| (p, offset)).collect());
            }
        };
        client.list_offsets(&self.topic, partitions, spec).await
    }

    /// Commits the positions handed out (group members only; nothing when unchanged).
    pub async fn commit(&mut self, client: &mut Client) -> Result<(), ClientError> {
        self.next_commit = Instant::now() + self.config.auto_commit_interval;
        let Some(member) = &self.member else {
            return Ok(());
        };
        let changed: BTreeMap<i32, i64> = self
            .positions
            .iter()
            .filter(|(p, o)| self.committed.get(p) != Some(o))
            .map(|(p, o)| (*p, *o))
            .collect();
        if changed.is_empty() || member.member_epoch() <= 0 {
            return Ok(());
        }
        let committer = Committer {
            member_id: member.member_id(),
            epoch: member.member_epoch(),
        };
        client
            .commit_offsets(member.group_id(), committer, &self.topic, &changed)
            .await?;
        self.committed.extend(changed);
        Ok(())
    }

    /// Commits and leaves the group (a direct reader has nothing to do).
    pub async fn close(&mut self, client: &mut Client) -> Result<(), ClientError> {
        let committed = self.commit(client).await;
        let left = match self.member.as_mut() {
            Some(member) => member.leave(client).await,
            None => Ok(()),
        };
        committed.and(left)
    }
}
