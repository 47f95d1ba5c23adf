//! What the controller needs to tell a clean restart from an unclean one, and to recover a
//! partition whose every leader candidate restarted uncleanly (KIP-966).
//!
//! - The broker-level clean-shutdown marker (Kafka's `.kafka_cleanshutdown`): a clean stop writes
//!   the broker epoch it ends, after every log was flushed and closed; the next start takes it
//!   (reads and removes it, durably) and sends it as `previous_broker_epoch` in its registration.
//!   A crash or a power loss leaves none, so the controller treats the restart as unclean: the
//!   broker's log may have lost its unsynced tail, and it cannot be an eligible leader replica.
//! - Replica log reports: for each of its partitions that waits for them (no leader, ISR and ELR
//!   empty: every candidate restarted uncleanly), it reports its log's last epoch and end, and
//!   the controller elects the most complete once every last-known-ELR member reported
//!   (docs/internals/controller.md).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use controller::{MetadataCommand, ReplicaLogReport};

use super::{Cluster, PROPOSE_TIMEOUT};
use crate::broker::Broker;

/// The marker's file name in the log directory.
const MARKER: &str = ".runnel_clean_shutdown";

fn marker_path(log_dir: &Path) -> PathBuf {
    log_dir.join(MARKER)
}

/// Takes the marker a clean stop left: the broker epoch it names, or -1 (none, unreadable, or
/// it could not be removed). Removing it durably comes first, so that a crash from here on is
/// unclean again.
pub fn take_clean_shutdown_epoch(log_dir: &Path) -> i64 {
    let path = marker_path(log_dir);
    let Ok(text) = fs::read_to_string(&path) else {
        return -1;
    };
    let removed = fs::remove_file(&path).is_ok() && sync_dir(log_dir).is_ok();
    let epoch = parse(&text);
    if !removed {
        tracing::warn!(path = %path.display(), "could not remove the clean-shutdown marker; restarting as unclean");
        return -1;
    }
    epoch.unwrap_or_else(|| {
        tracing::warn!(path = %path.display(), "unreadable clean-shutdown marker; restarting as unclean");
        -1
    })
}

fn parse(text: &str) -> Option<i64> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    value.get("broker_epoch")?.as_i64().filter(|e| *e >= 0)
}

/// Writes the marker after a clean stop closed every log.
pub fn write_clean_shutdown_epoch(log_dir: &Path, broker_epoch: i64) -> std::io::Result<()> {
    let path = marker_path(log_dir);
    let mut file = fs::File::create(&path)?;
    file.write_all(format!("{{\"version\":0,\"broker_epoch\":{broker_epoch}}}\n").as_bytes())?;
    file.sync_all()?;
    sync_dir(log_dir)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Reports the logs of the partitions that wait for log reports and have none from this broker
/// yet. Partitions whose log is not open here yet wait for the next round.
pub(super) async fn report_replica_logs(broker: &Broker, cluster: &Cluster, broker_epoch: i64) {
    let image = cluster.image();
    let mut logs = Vec::new();
    for topic in image.topics.values() {
        for (index, p) in topic.partitions.iter().enumerate() {
            let me = cluster.local_id;
            if !p.replicas.contains(&me)
                || !controller::awaits_log_reports(p)
                || p.replica_logs.iter().any(|l| l.broker_id == me && !l.stale)
            {
                continue;
            }
            let partition = i32::try_from(index).unwrap_or(i32::MAX);
            let Some(local) = broker.replicas.get(&topic.name, partition) else {
                continue;
            };
            let (Ok(log_end_offset), Ok(last_epoch)) =
                (local.log_end_offset(), local.latest_epoch())
            else {
                continue;
            };
            logs.push(ReplicaLogReport {
                topic_id: topic.topic_id,
                partition,
                last_epoch: last_epoch.unwrap_or(-1),
                log_end_offset,
            });
        }
    }
    if logs.is_empty() {
        return;
    }
    tracing::info!(?logs, "reporting logs for recovery elections");
    let command = MetadataCommand::ReportReplicaLogs {
        broker_id: cluster.local_id,
        broker_epoch,
        logs,
    };
    if let Err(error) = cluster.quorum.propose(command, PROPOSE_TIMEOUT).await {
        tracing::info!(%error, "replica log report not confirmed; retrying");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_is_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(take_clean_shutdown_epoch(dir.path()), -1);
        write_clean_shutdown_epoch(dir.path(), 42).unwrap();
        assert_eq!(take_clean_shutdown_epoch(dir.path()), 42);
        assert_eq!(
            take_clean_shutdown_epoch(dir.path()),
            -1,
            "a crash after this start is unclean"
        );
        fs::write(marker_path(dir.path()), "{\"broker_epoch\":\"x\"}").unwrap();
        assert_eq!(take_clean_shutdown_epoch(dir.path()), -1);
        assert!(!marker_path(dir.path()).exists());
    }
}
