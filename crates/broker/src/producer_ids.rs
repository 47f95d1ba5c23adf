//! Producer id allocation for idempotent producers (Kafka's `ProducerIdManager`): ids are handed
//! out from blocks of [`PRODUCER_ID_BLOCK_SIZE`], and the end of the current block is persisted
//! in the log directory (`producer_id_block`, written atomically: temp file, fsync, rename,
//! directory fsync) *before* any id of the block is handed out. A restart starts at the
//! persisted end, so an id is never given twice, at the cost of skipping the rest of a block.
//!
//! Invariant: `next <= block_end` and `block_end` is what the file says.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::BrokerError;

/// Ids reserved per write of the block file (Kafka's controller hands out blocks of 1000).
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;
const FILE_NAME: &str = "producer_id_block";

struct Block {
    next: i64,
    block_end: i64,
}

/// Hands out producer ids unique across restarts of this broker.
pub struct ProducerIdManager {
    path: PathBuf,
    block: Mutex<Block>,
}

impl ProducerIdManager {
    /// Reads the persisted block end (0 when absent). The first id handed out allocates a new
    /// block from there.
    pub fn open(log_dir: &Path) -> Result<Self, BrokerError> {
        let path = log_dir.join(FILE_NAME);
        let block_end = match fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .parse::<i64>()
                .map_err(|e| BrokerError::Config(format!("corrupt {}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(BrokerError::io("reading the producer id block", e)),
        };
        if block_end < 0 {
            return Err(BrokerError::Config(format!(
                "corrupt {}: negative block end {block_end}",
                path.display()
            )));
        }
        Ok(Self {
            path,
            block: Mutex::new(Block {
                next: block_end,
                block_end,
            }),
        })
    }

    /// The next unused producer id. Blocks (file write and fsync) once per
    /// [`PRODUCER_ID_BLOCK_SIZE`] ids.
    pub fn generate(&self) -> Result<i64, BrokerError> {
        let mut block = self.block.lock().unwrap_or_else(|p| p.into_inner());
        if block.next == block.block_end {
            let end = block
                .block_end
                .checked_add(PRODUCER_ID_BLOCK_SIZE)
                .ok_or_else(|| BrokerError::Config("producer ids exhausted".into()))?;
            self.persist(end)?;
            block.block_end = end;
        }
        let id = block.next;
        block.next += 1;
        debug_assert!(block.next <= block.block_end);
        Ok(id)
    }

    /// The next id of a block the controller handed out (a replicated cluster), if one is left.
    pub fn take_from_block(&self) -> Option<i64> {
        let mut block = self.block.lock().unwrap_or_else(|p| p.into_inner());
        (block.next < block.block_end).then(|| {
            block.next += 1;
            block.next - 1
        })
    }

    /// Installs a block the active controller allocated (not persisted: the metadata log is
    /// the record, and a restart asks for a new block).
    pub fn install_block(&self, first: i64, len: i64) {
        let mut block = self.block.lock().unwrap_or_else(|p| p.into_inner());
        block.next = first;
        block.block_end = first.saturating_add(len);
    }

    fn persist(&self, block_end: i64) -> Result<(), BrokerError> {
        let io = |e| BrokerError::io("writing the producer id block", e);
        let temp = self.path.with_extension("tmp");
        let mut file = File::create(&temp).map_err(io)?;
        file.write_all(format!("{block_end}\n").as_bytes())
            .map_err(io)?;
        file.sync_all().map_err(io)?;
        fs::rename(&temp, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let manager = ProducerIdManager::open(dir.path()).unwrap();
        assert_eq!(manager.generate().unwrap(), 0);
        assert_eq!(manager.generate().unwrap(), 1);
        drop(manager);
        let manager = ProducerIdManager::open(dir.path()).unwrap();
        assert_eq!(manager.generate().unwrap(), PRODUCER_ID_BLOCK_SIZE);
        for _ in 1..PRODUCER_ID_BLOCK_SIZE {
            manager.generate().unwrap();
        }
        // Crossing into a third block persists it before handing out its first id.
        assert_eq!(manager.generate().unwrap(), 2 * PRODUCER_ID_BLOCK_SIZE);
        drop(manager);
        let manager = ProducerIdManager::open(dir.path()).unwrap();
        assert_eq!(manager.generate().unwrap(), 3 * PRODUCER_ID_BLOCK_SIZE);
    }
}
