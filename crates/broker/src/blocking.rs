//! Running blocking work (disk I/O, fsyncs, log replays) on tokio's blocking pool, with one
//! mapping of a failed task (a panic inside it) to `BrokerError::BlockingTaskFailed`
//! (UNKNOWN_SERVER_ERROR to a client). Which work goes here is decided by its owners: the
//! partition layer (`partitions/io.rs`) and the metadata writer.

use crate::error::BrokerError;

/// Runs `work` on the blocking pool and returns its result; a panic becomes
/// `BlockingTaskFailed { what }`.
pub async fn on_blocking_pool<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, BrokerError> + Send + 'static,
) -> Result<T, BrokerError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| BrokerError::BlockingTaskFailed {
            what,
            reason: error.to_string(),
        })?
}
