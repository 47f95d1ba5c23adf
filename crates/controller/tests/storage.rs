//! The metadata quorum's storage: openraft's own storage conformance suite run against our log
//! store and state-machine store, and recovery of the log from its files.
//!
//! Goal: the stores keep openraft's contract (log state, truncation, purge, vote, membership,
//! snapshots), and what `append` acknowledged is there after a reopen. Method: the suite builds
//! fresh stores in a temporary directory per case; the recovery test writes, truncates, purges
//! and reopens, then cuts the file mid-record as a crash would.

use std::fs::OpenOptions;

use controller::MetadataCommand;
use controller::raft::{LogStore, MetadataRaft, StateMachineStore};
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::{ErrorSubject, ErrorVerb, RaftLogReader, StorageError};

struct Builder;

impl StoreBuilder<MetadataRaft, LogStore, StateMachineStore, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachineStore), StorageError<MetadataRaft>> {
        let io = |e| StorageError::from_io_error(ErrorSubject::Store, ErrorVerb::Read, e);
        let dir = tempfile::tempdir().map_err(io)?;
        let log = LogStore::open(&dir.path().join("log")).map_err(io)?;
        let state = StateMachineStore::open(&dir.path().join("state")).map_err(io)?;
        Ok((dir, log, state))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openraft_storage_suite() {
    Suite::test_all(Builder).await.unwrap();
}

type Entry = openraft::type_config::alias::EntryOf<MetadataRaft>;

fn entry(index: u64) -> Entry {
    let log_id = openraft::testing::log_id::<MetadataRaft>(1, 1, index);
    Entry::new_normal(
        log_id,
        MetadataCommand::FenceBroker {
            broker_id: index as i32,
        },
    )
}

async fn indexes(log: &mut LogStore) -> Vec<u64> {
    let entries = log.try_get_log_entries(0..100).await.unwrap();
    entries.iter().map(|e| e.log_id.index).collect()
}

#[tokio::test]
async fn the_log_recovers_from_its_files_and_cuts_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut log = LogStore::open(&path).unwrap();
    log.append((1..=6).map(entry), IOFlushed::noop())
        .await
        .unwrap();
    log.truncate_after(Some(openraft::testing::log_id::<MetadataRaft>(1, 1, 4)))
        .await
        .unwrap();
    log.append([entry(5)], IOFlushed::noop()).await.unwrap();
    log.purge(openraft::testing::log_id::<MetadataRaft>(1, 1, 2))
        .await
        .unwrap();
    let vote = openraft::impls::Vote::new(3, 2);
    log.save_vote(&vote).await.unwrap();
    drop(log);

    let mut log = LogStore::open(&path).unwrap();
    assert_eq!(indexes(&mut log).await, vec![3, 4, 5]);
    assert_eq!(log.read_vote().await.unwrap(), Some(vote));
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id.map(|id| id.index), Some(2));
    drop(log);

    // A crash in the middle of writing the last record: it is cut, the rest survives.
    let file = OpenOptions::new()
        .write(true)
        .open(path.join("log"))
        .unwrap();
    let len = file.metadata().unwrap().len();
    file.set_len(len - 3).unwrap();
    let mut log = LogStore::open(&path).unwrap();
    assert_eq!(indexes(&mut log).await, vec![3, 4]);
    log.append([entry(5)], IOFlushed::noop()).await.unwrap();
    drop(log);
    let mut log = LogStore::open(&path).unwrap();
    assert_eq!(indexes(&mut log).await, vec![3, 4, 5]);
}

#[tokio::test]
async fn corruption_before_the_tail_is_an_error_not_a_silent_cut() {
    // A bad CRC with valid records after it is not a torn write: opening must fail rather than
    // drop acknowledged entries.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut log = LogStore::open(&path).unwrap();
    log.append((1..=3).map(entry), IOFlushed::noop())
        .await
        .unwrap();
    drop(log);
    let mut bytes = std::fs::read(path.join("log")).unwrap();
    bytes[10] ^= 0x40;
    std::fs::write(path.join("log"), &bytes).unwrap();
    let err = LogStore::open(&path).err().expect("corruption detected");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);

    // A corrupt snapshot file is refused as well.
    let state = dir.path().join("state");
    StateMachineStore::open(&state).unwrap();
    std::fs::write(state.join("snapshot"), b"\x05\0\0\0garbage").unwrap();
    assert!(StateMachineStore::open(&state).is_err());
}
