//! Fetch sessions (KIP-227): the broker-side cache that lets a client send only the partitions
//! whose fetch position changed ("incremental fetches") and get back only the partitions whose
//! data or offsets changed. Follows Kafka's `FetchSession.scala`:
//!
//! | session_id | epoch | meaning |
//! |---|---|---|
//! | 0 | -1 | full fetch, no session (sessionless; also every v4-6 fetch) |
//! | 0 | 0 | full fetch that creates a session; the response carries its new id |
//! | id | -1 | full fetch that closes session `id` |
//! | id | 0 | closes `id` and creates a new session |
//! | id | n > 0 | incremental fetch; `n` must be the session's next epoch |
//!
//! Errors are top-level: FETCH_SESSION_ID_NOT_FOUND for an unknown id, INVALID_FETCH_SESSION_EPOCH
//! for an epoch mismatch, FETCH_SESSION_TOPIC_ID_ERROR when a session created with topic ids
//! (v13+) is continued without them or the reverse. A client answers each by starting over with
//! a full fetch.
//!
//! Bounds: at most `sessions_max` sessions (Kafka's `max.incremental.fetch.session.cache.slots`,
//! default 1000); creating one more evicts the least recently used session, whose client then
//! gets FETCH_SESSION_ID_NOT_FOUND once and starts over. Unlike Kafka there is no protection of
//! recently used or larger sessions from eviction: with more than 1000 fetching clients,
//! sessions churn and clients fall back to full fetches, which stay correct. A session holds at
//! most [`SESSION_PARTITIONS_MAX`] partitions; a full fetch with more gets no session, an
//! incremental fetch growing past it closes the session (FETCH_SESSION_ID_NOT_FOUND).
//!
//! Not owned here: reading the partitions (handlers/fetch.rs).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

use protocol::Uuid;

use crate::error::BrokerError;

/// Most open fetch sessions: Kafka's `max.incremental.fetch.session.cache.slots` default.
pub const FETCH_SESSIONS_MAX: usize = 1000;
/// Most partitions one fetch session caches (bounds memory per session).
pub const SESSION_PARTITIONS_MAX: usize = 10_000;

/// How the request names a topic: by name before Fetch v13, by topic id from v13.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TopicKey {
    Name(String),
    Id(Uuid),
}

/// One partition of a fetch, as the request (or the session, for incremental fetches) gives it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionPartitionKey {
    pub topic: TopicKey,
    pub partition: i32,
}

/// What a fetch asks of one partition.
#[derive(Debug, Clone)]
pub struct FetchPosition {
    pub key: SessionPartitionKey,
    pub fetch_offset: i64,
    pub partition_max_bytes: i32,
    pub current_leader_epoch: i32,
}

/// What the response of a partition told the client last, so unchanged partitions can be left
/// out of incremental responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionSummary {
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub records_bytes: usize,
    pub error_code: i16,
    /// KIP-392's preferred read replica, -1 for none: an answer naming one is always sent.
    pub preferred_read_replica: i32,
}

#[derive(Debug, Clone)]
struct CachedPartition {
    position: FetchPosition,
    /// -1 until a response carried the partition (and after an error), so it is sent next time.
    high_watermark: i64,
    log_start_offset: i64,
}

#[derive(Debug)]
struct FetchSession {
    /// The epoch the next incremental fetch must carry.
    next_epoch: i32,
    uses_topic_ids: bool,
    /// In response order; partitions that returned records move to the end (fairness).
    partitions: Vec<CachedPartition>,
    last_used: Instant,
}

/// How to answer one fetch request, decided before any partition is read.
#[derive(Debug)]
pub enum FetchContext {
    /// Answer with this top-level error, no partitions, session id 0.
    Error(BrokerError),
    /// A full fetch of the request's partitions; `create` asks for a new session afterwards.
    Full {
        positions: Vec<FetchPosition>,
        create: bool,
    },
    /// An incremental fetch: read every partition of the session, answer the changed ones.
    Incremental {
        session_id: i32,
        positions: Vec<FetchPosition>,
    },
}

/// Every open fetch session of this broker.
pub struct FetchSessionCache {
    sessions: Mutex<HashMap<i32, FetchSession>>,
    sessions_max: usize,
}

/// Kafka's `FetchMetadata.nextEpoch`: wraps to 1, never back to the special 0 and -1.
fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX { 1 } else { epoch + 1 }
}

impl FetchSessionCache {
    pub fn new(sessions_max: usize) -> Self {
        Self {
            sessions: Mutex::new(HashMap::new()),
            sessions_max,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, FetchSession>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of open sessions.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decides how to answer a fetch with these session fields, applying an incremental
    /// fetch's added, changed and forgotten partitions to its session.
    pub fn new_context(
        &self,
        session_id: i32,
        epoch: i32,
        uses_topic_ids: bool,
        requested: Vec<FetchPosition>,
        forgotten: Vec<SessionPartitionKey>,
    ) -> FetchContext {
        let mut sessions = self.lock();
        if epoch == 0 || epoch == -1 {
            // Any session named by a full fetch is closed.
            if session_id != 0 {
                sessions.remove(&session_id);
            }
            return FetchContext::Full {
                positions: requested,
                create: epoch == 0,
            };
        }
        let Some(session) = sessions.get_mut(&session_id) else {
            return FetchContext::Error(BrokerError::FetchSessionIdNotFound(session_id));
        };
        if session.next_epoch != epoch {
            return FetchContext::Error(BrokerError::InvalidFetchSessionEpoch {
                session_id,
                expected: session.next_epoch,
                requested: epoch,
            });
        }
        if session.uses_topic_ids != uses_topic_ids {
            let with = if session.uses_topic_ids { "" } else { "out" };
            return FetchContext::Error(BrokerError::FetchSessionTopicIdError(session_id, with));
        }
        let mut index: HashMap<SessionPartitionKey, usize> = session
            .partitions
            .iter()
            .enumerate()
            .map(|(i, p)| (p.position.key.clone(), i))
            .collect();
        for position in requested {
            match index.get(&position.key) {
                Some(&i) => session.partitions[i].position = position,
                None => {
                    index.insert(position.key.clone(), session.partitions.len());
                    session.partitions.push(CachedPartition {
                        position,
                        high_watermark: -1,
                        log_start_offset: -1,
                    });
                }
            }
        }
        if !forgotten.is_empty() {
            let forgotten: HashSet<SessionPartitionKey> = forgotten.into_iter().collect();
            session
                .partitions
                .retain(|p| !forgotten.contains(&p.position.key));
        }
        if session.partitions.len() > SESSION_PARTITIONS_MAX {
            sessions.remove(&session_id);
            return FetchContext::Error(BrokerError::FetchSessionIdNotFound(session_id));
        }
        if session.partitions.is_empty() {
            // Kafka: a session left without partitions is closed; answer sessionless.
            sessions.remove(&session_id);
            return FetchContext::Full {
                positions: Vec::new(),
                create: false,
            };
        }
        session.next_epoch = next_epoch(session.next_epoch);
        session.last_used = Instant::now();
        FetchContext::Incremental {
            session_id,
            positions: session
                .partitions
                .iter()
                .map(|p| p.position.clone())
                .collect(),
        }
    }

    /// Creates a session for a full fetch just answered, caching what the response told the
    /// client. Returns the new session id, or 0 (no session) when there is nothing to cache or
    /// too much.
    pub fn create_session(
        &self,
        uses_topic_ids: bool,
        answered: &[(FetchPosition, PartitionSummary)],
    ) -> i32 {
        if self.sessions_max == 0 || answered.is_empty() || answered.len() > SESSION_PARTITIONS_MAX
        {
            return 0;
        }
        let mut seen = HashSet::new();
        let mut partitions: Vec<CachedPartition> = Vec::with_capacity(answered.len());
        // A partition named twice keeps its last position, as Kafka's map would.
        for (position, summary) in answered.iter().rev() {
            if seen.insert(position.key.clone()) {
                partitions.push(CachedPartition {
                    position: position.clone(),
                    high_watermark: if summary.error_code == 0 {
                        summary.high_watermark
                    } else {
                        -1
                    },
                    log_start_offset: summary.log_start_offset,
                });
            }
        }
        partitions.reverse();
        let mut sessions = self.lock();
        while sessions.len() >= self.sessions_max {
            let Some((&oldest, _)) = sessions.iter().min_by_key(|(_, s)| s.last_used) else {
                break;
            };
            sessions.remove(&oldest);
            tracing::debug!(
                session_id = oldest,
                "evicted least recently used fetch session"
            );
        }
        let session_id = loop {
            let mut bytes = [0u8; 4];
            if getrandom::fill(&mut bytes).is_err() {
                return 0;
            }
            let id = i32::from_be_bytes(bytes) & i32::MAX;
            if id != 0 && !sessions.contains_key(&id) {
                break id;
            }
        };
        sessions.insert(
            session_id,
            FetchSession {
                next_epoch: 1,
                uses_topic_ids,
                partitions,
                last_used: Instant::now(),
            },
        );
        session_id
    }

    /// After an incremental fetch was read: which of its partitions the response includes
    /// (`true`: new records, a changed high watermark or log start offset, or an error), as
    /// Kafka's `CachedPartition.maybeUpdateResponseData`. Updates the cached offsets and moves
    /// partitions that returned records to the end of the session. `None` when the session
    /// was evicted meanwhile.
    pub fn select_changed(
        &self,
        session_id: i32,
        answered: &[(FetchPosition, PartitionSummary)],
    ) -> Option<Vec<bool>> {
        let mut sessions = self.lock();
        let session = sessions.get_mut(&session_id)?;
        let index: HashMap<SessionPartitionKey, usize> = session
            .partitions
            .iter()
            .enumerate()
            .map(|(i, p)| (p.position.key.clone(), i))
            .collect();
        let mut with_records = vec![false; session.partitions.len()];
        let selected = answered
            .iter()
            .map(|(position, summary)| {
                let Some(&i) = index.get(&position.key) else {
                    return true;
                };
                let cached = &mut session.partitions[i];
                let mut respond = summary.records_bytes > 0;
                if cached.high_watermark != summary.high_watermark {
                    respond = true;
                    cached.high_watermark = summary.high_watermark;
                }
                if cached.log_start_offset != summary.log_start_offset {
                    respond = true;
                    cached.log_start_offset = summary.log_start_offset;
                }
                if summary.preferred_read_replica >= 0 {
                    respond = true;
                }
                if summary.error_code != 0 {
                    // Re-send the partition once the error goes away.
                    cached.high_watermark = -1;
                    respond = true;
                }
                with_records[i] = summary.records_bytes > 0;
                respond
            })
            .collect();
        let (mut kept, moved): (Vec<_>, Vec<_>) = std::mem::take(&mut session.partitions)
            .into_iter()
            .zip(with_records)
            .partition(|(_, records)| !records);
        kept.extend(moved);
        session.partitions = kept.into_iter().map(|(p, _)| p).collect();
        Some(selected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(partition: i32, fetch_offset: i64) -> FetchPosition {
        FetchPosition {
            key: SessionPartitionKey {
                topic: TopicKey::Name("t".into()),
                partition,
            },
            fetch_offset,
            partition_max_bytes: 1024,
            current_leader_epoch: -1,
        }
    }

    fn summary(high_watermark: i64, records_bytes: usize) -> PartitionSummary {
        PartitionSummary {
            high_watermark,
            log_start_offset: 0,
            records_bytes,
            error_code: 0,
            preferred_read_replica: -1,
        }
    }

    #[test]
    fn least_recently_used_session_is_evicted_when_full() {
        let cache = FetchSessionCache::new(2);
        let answered = vec![(position(0, 0), summary(0, 0))];
        let first = cache.create_session(false, &answered);
        let second = cache.create_session(false, &answered);
        // Touch the first so the second is the least recently used.
        assert!(matches!(
            cache.new_context(first, 1, false, vec![], vec![]),
            FetchContext::Incremental { .. }
        ));
        let third = cache.create_session(false, &answered);
        assert_eq!(cache.len(), 2);
        assert!(matches!(
            cache.new_context(second, 1, false, vec![], vec![]),
            FetchContext::Error(BrokerError::FetchSessionIdNotFound(_))
        ));
        assert!(matches!(
            cache.new_context(third, 1, false, vec![], vec![]),
            FetchContext::Incremental { .. }
        ));
    }

    #[test]
    fn partitions_with_records_rotate_to_the_end() {
        let cache = FetchSessionCache::new(10);
        let answered = vec![
            (position(0, 0), summary(5, 0)),
            (position(1, 0), summary(5, 0)),
        ];
        let id = cache.create_session(false, &answered);
        let FetchContext::Incremental { positions, .. } =
            cache.new_context(id, 1, false, vec![], vec![])
        else {
            panic!("expected an incremental context");
        };
        let answered: Vec<_> = positions
            .into_iter()
            .zip([summary(5, 100), summary(5, 0)])
            .collect();
        assert_eq!(cache.select_changed(id, &answered), Some(vec![true, false]));
        let FetchContext::Incremental { positions, .. } =
            cache.new_context(id, 2, false, vec![], vec![])
        else {
            panic!("expected an incremental context");
        };
        let order: Vec<i32> = positions.iter().map(|p| p.key.partition).collect();
        assert_eq!(order, vec![1, 0]);
    }

    #[test]
    fn epoch_wraps_to_one() {
        assert_eq!(next_epoch(i32::MAX), 1);
        assert_eq!(next_epoch(1), 2);
    }
}
