//! The sync journal, a fault-test hook for simulated power loss (reliability.md's F12/F13):
//! when the environment variable [`SYNC_JOURNAL_ENV`] names a file, every successful `fdatasync`
//! of a segment's `.log` file appends a line `<length> <path>` to it, the length being the
//! file's size *before* the sync began (what the sync is guaranteed to cover). A harness that
//! SIGKILLs the node can then cut each segment file back to its last journaled length (0 when
//! never synced) and so leave what a power cut would have: only what was fsynced.
//!
//! Off (the variable unset), a sync is just the file's `sync_data`. The journal is written with
//! plain appends, not synced: a SIGKILL keeps the page cache, and the journal stands for what
//! the disk held. A truncation is journaled too (its new length), so that what a harness keeps
//! after one is at most what was left then: the simulation takes truncations as durable at
//! once and does not resurrect the cut bytes a real disk might bring back. So is a segment's
//! creation (length 0), so that a file deleted and created again under the same name keeps no
//! older synced length. Segment files written by the cleaner under another name and renamed
//! into place are journaled under their temporary name, so a harness should apply the journal to logs the
//! cleaner does not rewrite (non-compacted topics). The variable is outside the `RUNNEL_`
//! prefix on purpose: those are broker configuration keys.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

/// The environment variable naming the journal file.
pub const SYNC_JOURNAL_ENV: &str = "RNL_FAULTS_SYNC_JOURNAL";

fn journal() -> Option<&'static Mutex<File>> {
    static JOURNAL: OnceLock<Option<Mutex<File>>> = OnceLock::new();
    JOURNAL
        .get_or_init(|| {
            let path = std::env::var_os(SYNC_JOURNAL_ENV)?;
            match File::options().create(true).append(true).open(&path) {
                Ok(file) => Some(Mutex::new(file)),
                Err(error) => {
                    tracing::warn!(path = %Path::new(&path).display(), %error, "the sync journal cannot be opened; syncs are not journaled");
                    None
                }
            }
        })
        .as_ref()
}

/// Journals that `path` was cut to `length` (when the hook is on).
pub(crate) fn truncated(path: &Path, length: u64) {
    if let Some(journal) = journal() {
        append(journal, path, length);
    }
}

fn append(journal: &Mutex<File>, path: &Path, length: u64) {
    let line = format!("{length} {}\n", path.display());
    if let Ok(mut journal) = journal.lock() {
        let _ = journal.write_all(line.as_bytes());
    }
}

/// `file.sync_data()`, journaled when the hook is on.
pub(crate) fn sync_data(file: &File, path: &Path) -> std::io::Result<()> {
    let Some(journal) = journal() else {
        return file.sync_data();
    };
    let length = file.metadata()?.len();
    file.sync_data()?;
    append(journal, path, length);
    Ok(())
}
