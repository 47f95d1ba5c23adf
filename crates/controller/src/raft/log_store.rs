//! The metadata log on disk: openraft's `RaftLogStorage`, fsynced before it acknowledges.
//!
//! Files in the log directory: `log` (entries as [`record_file`] records of JSON), `vote` and
//! `purged` (one record each, replaced durably). `append` writes the entries and calls openraft's
//! callback only after `sync_data` returns; `save_vote` returns only after the vote is durable.
//! `truncate_after` cuts the file at the first removed entry and fsyncs. `purge` records the purged
//! log id durably and drops the entries from memory; their bytes stay in `log` and are skipped on
//! recovery (rewriting the file to reclaim them is left for later: the metadata log is small and
//! snapshots bound replay). All entries live in memory as well; reads never touch the disk.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::ops::RangeBounds;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader};

use super::record_file::{self, encode};
use super::types::{Entry, LogId, MetadataRaft, Vote};

/// The metadata log of one controller. Cheap to clone: clones share the same files.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<LogFiles>>,
}

struct LogFiles {
    dir: PathBuf,
    log: File,
    /// Length of `log`: where the next entry goes.
    log_bytes: u64,
    /// Entries after `purged`, with their byte offset in `log`.
    entries: BTreeMap<u64, (u64, Entry)>,
    vote: Option<Vote>,
    purged: Option<LogId>,
}

fn invalid(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {e}"))
}

impl LogStore {
    /// Opens (or creates) the log in `dir`, cutting a torn tail left by a crash.
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let vote = match record_file::read_single(dir, "vote")? {
            Some(bytes) => Some(serde_json::from_slice(&bytes).map_err(|e| invalid("vote", e))?),
            None => None,
        };
        let purged: Option<LogId> = match record_file::read_single(dir, "purged")? {
            Some(bytes) => Some(serde_json::from_slice(&bytes).map_err(|e| invalid("purged", e))?),
            None => None,
        };
        let path = dir.join("log");
        let existed = path.exists();
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        if !existed {
            record_file::sync_dir(dir)?;
        }
        let bytes = fs::read(&path)?;
        let (records, valid) = record_file::scan(&bytes)?;
        let mut entries = BTreeMap::new();
        for (offset, payload) in records {
            let entry: Entry =
                serde_json::from_slice(payload).map_err(|e| invalid("log entry", e))?;
            if purged.is_none_or(|p| entry.log_id.index > p.index) {
                entries.insert(entry.log_id.index, (offset, entry));
            }
        }
        if valid < bytes.len() as u64 {
            log.set_len(valid)?;
            log.sync_data()?;
        }
        let files = LogFiles {
            dir: dir.to_owned(),
            log,
            log_bytes: valid,
            entries,
            vote,
            purged,
        };
        Ok(LogStore {
            inner: Arc::new(Mutex::new(files)),
        })
    }

    fn files(&self) -> std::sync::MutexGuard<'_, LogFiles> {
        self.inner.lock().expect("a log store operation panicked")
    }
}

impl RaftLogReader<MetadataRaft> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let files = self.files();
        Ok(files
            .entries
            .range(range)
            .map(|(_, (_, entry))| entry.clone())
            .collect())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(self.files().vote)
    }
}

impl RaftLogStorage<MetadataRaft> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<MetadataRaft>, io::Error> {
        let files = self.files();
        let last = files
            .entries
            .values()
            .next_back()
            .map(|(_, e)| e.log_id)
            .or(files.purged);
        Ok(LogState {
            last_purged_log_id: files.purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let mut files = self.files();
        let bytes = serde_json::to_vec(vote).map_err(|e| invalid("vote", e))?;
        record_file::replace_durably(&files.dir, "vote", &bytes)?;
        files.vote = Some(*vote);
        Ok(())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<MetadataRaft>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut files = self.files();
        let mut buffer = Vec::new();
        let mut added = Vec::new();
        for entry in entries {
            let offset = files.log_bytes + buffer.len() as u64;
            let json = serde_json::to_vec(&entry).map_err(|e| invalid("log entry", e))?;
            encode(&json, &mut buffer);
            added.push((offset, entry));
        }
        // Positioned write: after a truncation or a reopen the file cursor is not the log's end.
        files.log.write_all_at(&buffer, files.log_bytes)?;
        // Durable before openraft counts the entries as accepted (a vote for the leader's log).
        files.log.sync_data()?;
        files.log_bytes += buffer.len() as u64;
        for (offset, entry) in added {
            files.entries.insert(entry.log_id.index, (offset, entry));
        }
        drop(files);
        callback.io_completed(Ok(()));
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let mut files = self.files();
        let keep_through = last_log_id.map_or(0, |id| id.index + 1);
        let Some((&first_removed, &(offset, _))) = files.entries.range(keep_through..).next()
        else {
            return Ok(());
        };
        files.log.set_len(offset)?;
        files.log.sync_data()?;
        files.log_bytes = offset;
        files.entries.split_off(&first_removed);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        let mut files = self.files();
        let bytes = serde_json::to_vec(&log_id).map_err(|e| invalid("purged", e))?;
        record_file::replace_durably(&files.dir, "purged", &bytes)?;
        files.purged = Some(log_id);
        files.entries = files.entries.split_off(&(log_id.index + 1));
        Ok(())
    }
}
