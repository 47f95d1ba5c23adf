//! `/metrics` in the Prometheus text format (version 0.0.4), with the names and labels the
//! Prometheus JMX exporter's usual Kafka rules (Strimzi's) give Kafka's MBeans, so dashboards
//! made for Kafka read Runnel:
//!
//! - `kafka_server_brokertopicmetrics_{bytesin,bytesout,messagesin}_total`, per `topic` and
//!   for all topics (no label);
//! - `kafka_network_requestmetrics_requests_total{request}` and
//!   `kafka_network_requestmetrics_totaltimems{request,quantile}` (a summary: quantiles from
//!   fixed buckets, with `_sum` and `_count`);
//! - `kafka_server_replicamanager_{partitioncount,leadercount,underreplicatedpartitions}`,
//!   `kafka_server_replicamanager_{isrshrinks,isrexpands}_total`;
//! - `kafka_controller_kafkacontroller_{activecontrollercount,offlinepartitionscount}` (the
//!   offline count on the active controller only, as Kafka reports it);
//! - `kafka_log_log_{size,logstartoffset,logendoffset}{topic,partition}` for hosted partitions;
//! - `kafka_server_socketservermetrics_connection_count{listener}`;
//! - `kafka_consumergroup_lag{consumergroup,topic,partition}` and
//!   `kafka_consumergroup_current_offset` (kafka_exporter's names; Kafka itself has no lag
//!   metric), for committed offsets of partitions this node hosts, at most
//!   [`GROUP_SERIES_MAX`] series;
//! - `runnel_build_info{version}` and `runnel_uptime_seconds`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::quantile_ms;
use crate::broker::Broker;
use crate::group_coordinator::{GroupCoordinatorService, Step};

/// Consumer-group offset series written at most (a broker with millions of committed offsets
/// must not answer a scrape with gigabytes).
pub const GROUP_SERIES_MAX: usize = 10_000;

const QUANTILES: [(f64, &str); 6] = [
    (0.5, "0.50"),
    (0.75, "0.75"),
    (0.95, "0.95"),
    (0.98, "0.98"),
    (0.99, "0.99"),
    (0.999, "0.999"),
];

/// A label value escaped for the text format.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The whole scrape.
pub async fn render(broker: &Arc<Broker>) -> String {
    let mut out = String::with_capacity(16 * 1024);
    topics(broker, &mut out);
    requests(broker, &mut out);
    replicas(broker, &mut out);
    connections(broker, &mut out);
    group_lag(broker, &mut out).await;
    family(&mut out, "runnel_build_info", "gauge", "Runnel's version.");
    let _ = writeln!(
        out,
        "runnel_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    family(
        &mut out,
        "runnel_uptime_seconds",
        "gauge",
        "Seconds since this broker started.",
    );
    let _ = writeln!(
        out,
        "runnel_uptime_seconds {}",
        broker.started_at.elapsed().as_secs_f64()
    );
    out
}

fn topics(broker: &Broker, out: &mut String) {
    let mut per_topic: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    for partition in broker.replicas.all() {
        let sums = per_topic
            .entry(partition.topic_partition.topic.clone())
            .or_default();
        sums[0] += partition.metrics.bytes_in.load(Ordering::Relaxed);
        sums[1] += partition.metrics.bytes_out.load(Ordering::Relaxed);
        sums[2] += partition.metrics.messages_in.load(Ordering::Relaxed);
    }
    let metrics = [
        ("bytesin", "Bytes appended as leader."),
        ("bytesout", "Record bytes read by consumer fetches."),
        ("messagesin", "Records appended as leader."),
    ];
    for (i, (name, help)) in metrics.iter().enumerate() {
        let full = format!("kafka_server_brokertopicmetrics_{name}_total");
        family(out, &full, "counter", help);
        let total: u64 = per_topic.values().map(|sums| sums[i]).sum();
        let _ = writeln!(out, "{full} {total}");
        for (topic, sums) in &per_topic {
            let _ = writeln!(out, "{full}{{topic=\"{}\"}} {}", label(topic), sums[i]);
        }
    }
}

fn requests(broker: &Broker, out: &mut String) {
    let served: Vec<_> = broker.metrics.requests.served().collect();
    let name_of = |key: i16| {
        protocol::generated::ApiKey::from_i16(key)
            .map_or_else(|| key.to_string(), |k| k.name().to_string())
    };
    family(
        out,
        "kafka_network_requestmetrics_requests_total",
        "counter",
        "Requests answered, per API.",
    );
    for (key, api) in &served {
        let _ = writeln!(
            out,
            "kafka_network_requestmetrics_requests_total{{request=\"{}\"}} {}",
            name_of(*key),
            api.requests.load(Ordering::Relaxed)
        );
    }
    family(
        out,
        "kafka_network_requestmetrics_totaltimems",
        "summary",
        "Milliseconds from a request read to its answer ready, per API (quantiles are bucket bounds).",
    );
    for (key, api) in &served {
        let name = name_of(*key);
        let buckets: Vec<u64> = api
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        for (q, text) in QUANTILES {
            let _ = writeln!(
                out,
                "kafka_network_requestmetrics_totaltimems{{request=\"{name}\",quantile=\"{text}\"}} {}",
                quantile_ms(&buckets, q)
            );
        }
        let _ = writeln!(
            out,
            "kafka_network_requestmetrics_totaltimems_sum{{request=\"{name}\"}} {}",
            api.time_us_sum.load(Ordering::Relaxed) as f64 / 1000.0
        );
        let _ = writeln!(
            out,
            "kafka_network_requestmetrics_totaltimems_count{{request=\"{name}\"}} {}",
            buckets.iter().sum::<u64>()
        );
    }
}

fn replicas(broker: &Broker, out: &mut String) {
    let partitions = broker.replicas.all();
    let mut leaders = 0u64;
    let mut under_replicated = 0u64;
    let mut logs: Vec<(String, [u64; 3])> = Vec::new();
    for partition in &partitions {
        if let Some(state) = partition.leader_state() {
            leaders += 1;
            if state.isr.len() < state.replicas.len() {
                under_replicated += 1;
            }
        }
        let tp = &partition.topic_partition;
        let labels = format!(
            "topic=\"{}\",partition=\"{}\"",
            label(&tp.topic),
            tp.partition
        );
        if let (Ok(size), Ok(start), Ok(end)) = (
            partition.size_bytes(),
            partition.log_start_offset(),
            partition.log_end_offset(),
        ) {
            let offset = |o: i64| u64::try_from(o).unwrap_or(0);
            logs.push((labels, [size, offset(start), offset(end)]));
        }
    }
    let gauges = [
        (
            "kafka_server_replicamanager_partitioncount",
            "Partitions hosted here.",
            partitions.len() as u64,
        ),
        (
            "kafka_server_replicamanager_leadercount",
            "Partitions led here.",
            leaders,
        ),
        (
            "kafka_server_replicamanager_underreplicatedpartitions",
            "Partitions led here whose ISR is smaller than their replicas.",
            under_replicated,
        ),
    ];
    for (name, help, value) in gauges {
        family(out, name, "gauge", help);
        let _ = writeln!(out, "{name} {value}");
    }
    let isr = &broker.replicas.isr_changes;
    for (name, help, value) in [
        (
            "kafka_server_replicamanager_isrshrinks_total",
            "ISR shrinks of partitions led here.",
            isr.shrinks.load(Ordering::Relaxed),
        ),
        (
            "kafka_server_replicamanager_isrexpands_total",
            "ISR expansions of partitions led here.",
            isr.expands.load(Ordering::Relaxed),
        ),
    ] {
        family(out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    }
    let (active, offline) = match broker.cluster.get() {
        None => (true, 0),
        Some(cluster) => {
            let active = cluster.active_controller() == Some(broker.config.node_id);
            let offline = if active {
                let image = cluster.image();
                image
                    .topics
                    .values()
                    .flat_map(|t| &t.partitions)
                    .filter(|p| p.leader.is_none())
                    .count()
            } else {
                0
            };
            (active, offline)
        }
    };
    family(
        out,
        "kafka_controller_kafkacontroller_activecontrollercount",
        "gauge",
        "1 on the active controller.",
    );
    let _ = writeln!(
        out,
        "kafka_controller_kafkacontroller_activecontrollercount {}",
        u8::from(active)
    );
    family(
        out,
        "kafka_controller_kafkacontroller_offlinepartitionscount",
        "gauge",
        "Partitions without a leader (reported by the active controller).",
    );
    let _ = writeln!(
        out,
        "kafka_controller_kafkacontroller_offlinepartitionscount {offline}"
    );
    let families = [
        ("kafka_log_log_size", "Bytes of a hosted partition's log."),
        (
            "kafka_log_log_logstartoffset",
            "A hosted partition's log start offset.",
        ),
        (
            "kafka_log_log_logendoffset",
            "A hosted partition's log end offset.",
        ),
    ];
    for (i, (name, help)) in families.into_iter().enumerate() {
        family(out, name, "gauge", help);
        for (labels, values) in &logs {
            let _ = writeln!(out, "{name}{{{labels}}} {}", values[i]);
        }
    }
}

fn connections(broker: &Broker, out: &mut String) {
    family(
        out,
        "kafka_server_socketservermetrics_connection_count",
        "gauge",
        "Open client connections per listener.",
    );
    for (listener, count) in broker.metrics.connection_counts() {
        let _ = writeln!(
            out,
            "kafka_server_socketservermetrics_connection_count{{listener=\"{}\"}} {count}",
            label(&listener)
        );
    }
}

/// Committed offsets of every group, with the lag of those whose partition is hosted here.
async fn group_lag(broker: &Arc<Broker>, out: &mut String) {
    let mut committed: Vec<(String, String, i32, i64)> = Vec::new();
    for shard in 0..broker.groups.partition_count() {
        let room = GROUP_SERIES_MAX.saturating_sub(committed.len());
        if room == 0 {
            break;
        }
        let listed =
            GroupCoordinatorService::call_partition(broker, shard, move |coordinator, _| {
                Step::answer(coordinator.committed_offsets(room))
            })
            .await;
        // A shard not loaded here (another coordinator, or still loading) has nothing to say.
        if let Ok(offsets) = listed {
            committed.extend(offsets);
        }
    }
    family(
        out,
        "kafka_consumergroup_current_offset",
        "gauge",
        "A group's committed offset per partition.",
    );
    let mut lags = String::new();
    for (group, topic, partition, offset) in &committed {
        let labels = format!(
            "consumergroup=\"{}\",topic=\"{}\",partition=\"{partition}\"",
            label(group),
            label(topic)
        );
        let _ = writeln!(
            out,
            "kafka_consumergroup_current_offset{{{labels}}} {offset}"
        );
        let end = broker
            .replicas
            .get(topic, *partition)
            .and_then(|p| p.high_watermark().ok());
        if let Some(end) = end {
            let _ = writeln!(
                lags,
                "kafka_consumergroup_lag{{{labels}}} {}",
                (end - offset).max(0)
            );
        }
    }
    family(
        out,
        "kafka_consumergroup_lag",
        "gauge",
        "Records between a group's committed offset and the partition's high watermark (partitions hosted here).",
    );
    out.push_str(&lags);
}
