//! The state-machine store: applies committed metadata-log entries to the [`MetadataImage`] and
//! builds, persists and installs snapshots (a snapshot is the image, with the last applied log id
//! and membership).
//!
//! The current snapshot is kept durably in one file, `snapshot` in the state-machine directory,
//! before openraft is told about it, because openraft purges the log entries a snapshot covers.
//! The file holds its own metadata, so a crash can never pair one snapshot's metadata with
//! another's image. On start the store loads it; the entries after it are applied again from
//! the log.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures_util::{Stream, StreamExt};
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, RaftSnapshotBuilder};
use serde::{Deserialize, Serialize};

use super::record_file;
use super::types::{
    CommandResponse, LogId, MetadataRaft, Snapshot, SnapshotData, SnapshotMeta, StoredMembership,
};
use crate::image::MetadataImage;

/// What a snapshot holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SnapshotFile {
    pub last_log_id: Option<LogId>,
    pub membership: StoredMembership,
    pub image: MetadataImage,
}

impl SnapshotFile {
    fn meta(&self) -> SnapshotMeta {
        SnapshotMeta {
            last_log_id: self.last_log_id,
            last_membership: self.membership.clone(),
        }
    }
}

/// The applied state, shared with [`crate::ControllerNode`] for reads.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    pub image: MetadataImage,
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
}

/// The metadata state machine of one controller. Clones share the state.
#[derive(Clone)]
pub struct StateMachineStore {
    dir: PathBuf,
    pub(crate) applied: Arc<Mutex<Applied>>,
    /// The image after every apply or install, for the broker to follow.
    pub(crate) published: Arc<tokio::sync::watch::Sender<Arc<MetadataImage>>>,
    current: Arc<Mutex<Option<(SnapshotMeta, SnapshotData)>>>,
}

fn invalid(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {e}"))
}

impl StateMachineStore {
    /// Opens the store in `dir`, loading the last snapshot if there is one.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let store = StateMachineStore {
            dir: dir.to_owned(),
            applied: Arc::default(),
            published: Arc::new(tokio::sync::watch::Sender::new(Arc::default())),
            current: Arc::default(),
        };
        if let Some(data) = record_file::read_single(dir, "snapshot")? {
            let meta = store.load(Self::decode(&data)?);
            *store.current.lock().expect("poisoned") = Some((meta, data));
        }
        Ok(store)
    }

    /// Decodes a snapshot and checks its image's invariants.
    fn decode(data: &[u8]) -> io::Result<SnapshotFile> {
        let file: SnapshotFile =
            serde_json::from_slice(data).map_err(|e| invalid("snapshot", e))?;
        file.image
            .check_invariants()
            .map_err(|e| invalid("snapshot image", e))?;
        Ok(file)
    }

    /// Replaces the applied state with a decoded snapshot's and returns its metadata.
    fn load(&self, mut file: SnapshotFile) -> SnapshotMeta {
        let meta = file.meta();
        file.image.offset = file.last_log_id.map_or(0, |id| id.index);
        self.published.send_replace(Arc::new(file.image.clone()));
        let mut applied = self.applied.lock().expect("poisoned");
        *applied = Applied {
            image: file.image,
            last_applied: file.last_log_id,
            membership: file.membership,
        };
        meta
    }

    fn persist(&self, meta: &SnapshotMeta, data: &[u8]) -> io::Result<()> {
        record_file::replace_durably(&self.dir, "snapshot", data)?;
        *self.current.lock().expect("poisoned") = Some((meta.clone(), data.to_vec()));
        Ok(())
    }
}

impl RaftSnapshotBuilder<MetadataRaft> for StateMachineStore {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let (meta, data) = {
            let applied = self.applied.lock().expect("poisoned");
            let file = SnapshotFile {
                last_log_id: applied.last_applied,
                membership: applied.membership.clone(),
                image: applied.image.clone(),
            };
            (
                file.meta(),
                serde_json::to_vec(&file).map_err(|e| invalid("snapshot", e))?,
            )
        };
        self.persist(&meta, &data)?;
        Ok(Snapshot {
            meta,
            snapshot: data,
        })
    }
}

impl RaftStateMachine<MetadataRaft> for StateMachineStore {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = StateMachineStore;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let applied = self.applied.lock().expect("poisoned");
        Ok((applied.last_applied, applied.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<MetadataRaft>, io::Error>>
            + Unpin
            + openraft::OptionalSend,
    {
        let mut responders = Vec::new();
        while let Some(next) = entries.next().await {
            let (entry, responder) = next?;
            let response = {
                let mut applied = self.applied.lock().expect("poisoned");
                applied.last_applied = Some(entry.log_id);
                applied.image.offset = entry.log_id.index;
                match entry.payload {
                    EntryPayload::Blank => CommandResponse(None),
                    EntryPayload::Normal(command) => {
                        let offset = i64::try_from(entry.log_id.index).expect("log index fits i64");
                        CommandResponse(Some(applied.image.apply(offset, &command)))
                    }
                    EntryPayload::Membership(membership) => {
                        applied.membership = StoredMembership::new(Some(entry.log_id), membership);
                        CommandResponse(None)
                    }
                }
            };
            if let Some(responder) = responder {
                responders.push((responder, response));
            }
        }
        // Published before anyone is answered: a proposer that got its answer finds the change
        // in the image it subscribes to.
        let image = self.applied.lock().expect("poisoned").image.clone();
        self.published.send_replace(Arc::new(image));
        for (responder, response) in responders {
            responder.send(response);
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        let file = Self::decode(&snapshot)?;
        if file.last_log_id != meta.last_log_id {
            return Err(invalid("snapshot", "its data does not match its metadata"));
        }
        // Durable before visible: a crash after this point restarts from the installed snapshot.
        self.persist(meta, &snapshot)?;
        self.load(file);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        let current = self.current.lock().expect("poisoned");
        Ok(current.as_ref().map(|(meta, data)| Snapshot {
            meta: meta.clone(),
            snapshot: data.clone(),
        }))
    }
}
