//! DescribeLogDirs (v0-4): the broker's log directory with the size of every hosted partition
//! (all, or the requested ones), offset lag 0 and no future replicas (this broker never moves a
//! replica between directories), and from v4 the file system's total and usable bytes
//! (`statvfs`). Kafka 4 serves v1-4; v0 is served too (the codec has it).
//!
//! Runnel uses one log directory (the first of `log.dirs`). With ACLs it needs DESCRIBE on the
//! cluster: denied, the answer lists no directory (v3+ with CLUSTER_AUTHORIZATION_FAILED).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::DescribeLogDirsRequest;
use protocol::generated::DescribeLogDirsResponse;
use protocol::generated::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};

use super::RequestContext;
use crate::broker::Broker;
use crate::partitions::Partition;
use security::acl::AclOperation;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    if !broker.allows_cluster(context, AclOperation::Describe) {
        // v0-2 have no top-level error: the denied answer is an empty list.
        return DescribeLogDirsResponse {
            error_code: if context.api_version >= 3 {
                ErrorCode::ClusterAuthorizationFailed.code()
            } else {
                0
            },
            results: Vec::new(),
            ..Default::default()
        };
    }
    let partitions: Vec<Arc<Partition>> = match request.topics {
        None => broker.replicas.all(),
        Some(topics) => {
            let mut seen = HashSet::new();
            topics
                .iter()
                .flat_map(|topic| {
                    topic
                        .partitions
                        .iter()
                        .map(move |&index| (topic.topic.as_str(), index))
                })
                .filter(|key| seen.insert(*key))
                .filter_map(|(topic, index)| broker.replicas.get(topic, index))
                .collect()
        }
    };
    let mut topics: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
    for partition in partitions {
        // A log closed by a concurrent deletion is no longer in this directory.
        let Ok(size) = partition.size_bytes() else {
            continue;
        };
        topics
            .entry(partition.topic_partition.topic.clone())
            .or_default()
            .push(DescribeLogDirsPartition {
                partition_index: partition.topic_partition.partition,
                partition_size: i64::try_from(size).unwrap_or(i64::MAX),
                offset_lag: 0,
                is_future_key: false,
                ..Default::default()
            });
    }
    let log_dir = &broker.config.log_dir;
    let (total_bytes, usable_bytes) = match nix::sys::statvfs::statvfs(log_dir.as_path()) {
        Ok(stats) => {
            let fragment = stats.fragment_size() as i64;
            (
                (stats.blocks() as i64).saturating_mul(fragment),
                (stats.blocks_available() as i64).saturating_mul(fragment),
            )
        }
        Err(_) => (-1, -1),
    };
    let log_dir = std::fs::canonicalize(log_dir).unwrap_or_else(|_| log_dir.clone());
    DescribeLogDirsResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::None.code(),
        results: vec![DescribeLogDirsResult {
            error_code: ErrorCode::None.code(),
            log_dir: log_dir.display().to_string(),
            topics: topics
                .into_iter()
                .map(|(name, partitions)| DescribeLogDirsTopic {
                    name,
                    partitions,
                    ..Default::default()
                })
                .collect(),
            total_bytes,
            usable_bytes,
            ..Default::default()
        }],
        ..Default::default()
    }
}
