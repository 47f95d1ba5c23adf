//! Share sessions (KIP-932): the partitions a share consumer fetches from this broker, kept
//! between its ShareFetch requests so each request names only what changed, and the epoch that
//! orders the requests.
//!
//! | ShareSessionEpoch | meaning |
//! |---|---|
//! | 0 | opens a session (replacing the member's previous one); no acknowledgements allowed |
//! | n > 0 | continues the session; `n` must be the epoch the broker expects next |
//! | -1 | the last request: acknowledgements only, then the session closes |
//!
//! A session is keyed by (group, member). Errors: SHARE_SESSION_NOT_FOUND for an unknown
//! session, INVALID_SHARE_SESSION_EPOCH for a wrong epoch, SHARE_SESSION_LIMIT_REACHED when
//! `max_sessions` are open (Kafka's `group.share.max.share.sessions`). A session holds at most
//! [`SHARE_SESSION_PARTITIONS_MAX`] partitions. Sessions idle for longer than the idle
//! timeout are evicted by [`ShareSessions::evict_idle`], and the caller releases what their
//! members held.

use std::collections::{BTreeSet, HashMap};

use protocol::{ErrorCode, Uuid};

/// The most partitions one share session may fetch.
pub const SHARE_SESSION_PARTITIONS_MAX: usize = 10_000;

/// The epoch that opens a share session, and the one that closes it.
pub const INITIAL_EPOCH: i32 = 0;
pub const FINAL_EPOCH: i32 = -1;

/// A share session's identity: the group and the member.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey {
    pub group_id: String,
    pub member_id: String,
}

#[derive(Debug)]
struct Session {
    /// The epoch the next request must carry.
    next_epoch: i32,
    partitions: BTreeSet<(Uuid, i32)>,
    last_used_ms: i64,
}

/// What a request may do once its session checks pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    /// The partitions to fetch (empty for the final epoch).
    pub partitions: BTreeSet<(Uuid, i32)>,
    /// The session was closed by this request (final epoch).
    pub closed: bool,
}

/// Every open share session on this broker.
#[derive(Debug)]
pub struct ShareSessions {
    sessions: HashMap<SessionKey, Session>,
    max_sessions: usize,
}

impl ShareSessions {
    pub fn new(max_sessions: usize) -> ShareSessions {
        ShareSessions {
            sessions: HashMap::new(),
            max_sessions,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Checks a ShareFetch's epoch and updates the session: `added` partitions join it,
    /// `forgotten` ones leave it.
    pub fn fetch(
        &mut self,
        key: &SessionKey,
        epoch: i32,
        added: &[(Uuid, i32)],
        forgotten: &[(Uuid, i32)],
        now_ms: i64,
    ) -> Result<SessionView, ErrorCode> {
        match epoch {
            INITIAL_EPOCH => {
                if !self.sessions.contains_key(key) && self.sessions.len() >= self.max_sessions {
                    return Err(ErrorCode::ShareSessionLimitReached);
                }
                let partitions: BTreeSet<(Uuid, i32)> = added.iter().copied().collect();
                if partitions.len() > SHARE_SESSION_PARTITIONS_MAX {
                    return Err(ErrorCode::InvalidRequest);
                }
                self.sessions.insert(
                    key.clone(),
                    Session {
                        next_epoch: 1,
                        partitions: partitions.clone(),
                        last_used_ms: now_ms,
                    },
                );
                Ok(SessionView {
                    partitions,
                    closed: false,
                })
            }
            FINAL_EPOCH => {
                self.sessions
                    .remove(key)
                    .ok_or(ErrorCode::ShareSessionNotFound)?;
                Ok(SessionView {
                    partitions: BTreeSet::new(),
                    closed: true,
                })
            }
            epoch if epoch > 0 => {
                let session = self
                    .sessions
                    .get_mut(key)
                    .ok_or(ErrorCode::ShareSessionNotFound)?;
                if session.next_epoch != epoch {
                    return Err(ErrorCode::InvalidShareSessionEpoch);
                }
                for partition in forgotten {
                    session.partitions.remove(partition);
                }
                for partition in added {
                    if session.partitions.len() >= SHARE_SESSION_PARTITIONS_MAX {
                        return Err(ErrorCode::InvalidRequest);
                    }
                    session.partitions.insert(*partition);
                }
                session.next_epoch = next_epoch(epoch);
                session.last_used_ms = now_ms;
                Ok(SessionView {
                    partitions: session.partitions.clone(),
                    closed: false,
                })
            }
            _ => Err(ErrorCode::InvalidShareSessionEpoch),
        }
    }

    /// Checks a ShareAcknowledge's epoch: it continues (n > 0) or closes (-1) a session; it
    /// never opens one.
    pub fn acknowledge(
        &mut self,
        key: &SessionKey,
        epoch: i32,
        now_ms: i64,
    ) -> Result<bool, ErrorCode> {
        match epoch {
            FINAL_EPOCH => {
                self.sessions
                    .remove(key)
                    .ok_or(ErrorCode::ShareSessionNotFound)?;
                Ok(true)
            }
            epoch if epoch > 0 => {
                let session = self
                    .sessions
                    .get_mut(key)
                    .ok_or(ErrorCode::ShareSessionNotFound)?;
                if session.next_epoch != epoch {
                    return Err(ErrorCode::InvalidShareSessionEpoch);
                }
                session.next_epoch = next_epoch(epoch);
                session.last_used_ms = now_ms;
                Ok(false)
            }
            _ => Err(ErrorCode::InvalidShareSessionEpoch),
        }
    }

    /// Removes sessions unused since `now_ms - idle_ms`; returns their keys.
    pub fn evict_idle(&mut self, now_ms: i64, idle_ms: i64) -> Vec<SessionKey> {
        let expired: Vec<SessionKey> = self
            .sessions
            .iter()
            .filter(|(_, s)| now_ms.saturating_sub(s.last_used_ms) > idle_ms)
            .map(|(k, _)| k.clone())
            .collect();
        for key in &expired {
            self.sessions.remove(key);
        }
        expired
    }

    /// Removes every session of `member_id` in `group_id` (the member left the group).
    pub fn remove(&mut self, key: &SessionKey) -> bool {
        self.sessions.remove(key).is_some()
    }
}

/// Epochs wrap to 1, never to 0 or -1 (Kafka's `ShareRequestMetadata.nextEpoch`).
fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX { 1 } else { epoch + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SessionKey {
        SessionKey {
            group_id: "g".into(),
            member_id: "m".into(),
        }
    }

    #[test]
    fn epochs_order_requests_and_final_closes() {
        let mut sessions = ShareSessions::new(10);
        let p = (Uuid::default(), 0);
        assert_eq!(
            sessions.fetch(&key(), 1, &[], &[], 0),
            Err(ErrorCode::ShareSessionNotFound)
        );
        let view = sessions.fetch(&key(), 0, &[p], &[], 0).unwrap();
        assert!(view.partitions.contains(&p));
        assert_eq!(
            sessions.fetch(&key(), 2, &[], &[], 0),
            Err(ErrorCode::InvalidShareSessionEpoch)
        );
        assert!(sessions.fetch(&key(), 1, &[], &[], 0).is_ok());
        assert_eq!(sessions.acknowledge(&key(), 2, 0), Ok(false));
        let view = sessions.fetch(&key(), 3, &[], &[p], 0).unwrap();
        assert!(view.partitions.is_empty());
        assert_eq!(
            sessions.acknowledge(&key(), 0, 0),
            Err(ErrorCode::InvalidShareSessionEpoch)
        );
        assert_eq!(sessions.acknowledge(&key(), -1, 0), Ok(true));
        assert_eq!(
            sessions.acknowledge(&key(), 5, 0),
            Err(ErrorCode::ShareSessionNotFound)
        );
    }

    #[test]
    fn the_session_limit_and_idle_eviction() {
        let mut sessions = ShareSessions::new(1);
        sessions.fetch(&key(), 0, &[], &[], 0).unwrap();
        let other = SessionKey {
            group_id: "g".into(),
            member_id: "n".into(),
        };
        assert_eq!(
            sessions.fetch(&other, 0, &[], &[], 0),
            Err(ErrorCode::ShareSessionLimitReached)
        );
        // Reopening one's own session is always allowed.
        assert!(sessions.fetch(&key(), 0, &[], &[], 5).is_ok());
        assert_eq!(sessions.evict_idle(100, 50), vec![key()]);
        assert!(sessions.is_empty());
    }
}
