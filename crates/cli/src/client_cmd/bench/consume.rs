//! `runnel bench consume TOPIC`: reads `--num-records` records from the beginning of every
//! partition of a topic (no consumer group, no commits), and reports throughput and the latency
//! of each Fetch request (its round trip, which includes the broker's long poll when a partition
//! has nothing new).
//!
//! How: ListOffsets (earliest) for the start, then one pipelined connection per partition leader
//! with up to `--max-in-flight` Fetch requests in flight on each. A partition's next offset comes
//! from its previous answer, so a partition has one fetch in flight at a time and a leader's
//! partitions are spread over its requests (each asks for ceil(partitions / max-in-flight) of
//! them, round-robin): with one partition per leader there is one fetch in flight, as with
//! Kafka's consumer. A connection answers in order, so a long poll (partitions with nothing
//! new) is sent only on a connection with nothing else in flight; caught-up partitions otherwise
//! ride along with fetches that return records at once (`IdlePartitions`). Record batches are checked (CRC32C) and their records decoded
//! (decompressed under a cap), as a consumer does; bytes are key + value bytes, as
//! kafka-consumer-perf-test counts them.
//!
//! Not here: groups and commits, retries (the first error ends the run), fetch sessions
//! (KIP-227: every fetch is a full one).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use client::fetch::OffsetSpec;
use client::pipeline::{Answer, Pipeline};
use client::{ClientError, TopicMetadata};
use protocol::generated::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use protocol::records::{RecordBatches, RecordsError, decode_batch_records};
use protocol::{ApiKey, RequestBody, ResponseBody};

use super::report::{LatencyRecorder, Report, ReportFormat};
use super::{MAX_IN_FLIGHT_DEFAULT, MAX_IN_FLIGHT_MAX, Progress};
use crate::client_cmd::{CommandError, ConnectArgs, print_out};

/// Bytes one fetch asks for in all (Kafka's fetch.max.bytes), far below the client's bound on
/// a response frame.
const FETCH_BYTES_MAX: i32 = 50 << 20;
/// Largest `--max-partition-fetch-bytes`.
const PARTITION_FETCH_BYTES_MAX: u64 = 16 << 20;
/// Largest decompressed batch accepted (decompression bombs).
const DECOMPRESSED_BYTES_MAX: usize = 64 << 20;

#[derive(clap::Args, Debug)]
pub struct ConsumeBenchArgs {
    /// The topic to read, from the beginning of each of its partitions.
    topic: String,
    /// Records to read.
    #[arg(long, value_name = "N", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    num_records: u64,
    /// Fetch requests in flight on each broker connection (a partition has one at a time).
    #[arg(long, value_name = "N", default_value_t = MAX_IN_FLIGHT_DEFAULT as u64,
          value_parser = clap::value_parser!(u64).range(1..=MAX_IN_FLIGHT_MAX))]
    max_in_flight: u64,
    /// Bytes a fetch asks for per partition (Kafka's max.partition.fetch.bytes).
    #[arg(long, value_name = "BYTES", default_value_t = 1_048_576,
          value_parser = clap::value_parser!(u64).range(1..=PARTITION_FETCH_BYTES_MAX))]
    max_partition_fetch_bytes: u64,
    /// How long the broker may hold a fetch that finds nothing new (Kafka's fetch.max.wait.ms).
    #[arg(long, value_name = "MS", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    fetch_max_wait_ms: u64,
    /// End with an error (after the report) when no record arrived for this long: the topic
    /// holds fewer than --num-records.
    #[arg(long, value_name = "MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    timeout_ms: u64,
    /// The report: aligned text, or one JSON object.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    format: ReportFormat,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// The partitions one Fetch request asked for, with the offset each was read from.
#[derive(Debug)]
struct Asked {
    partitions: Vec<(i32, i64)>,
}

/// What the records of one partition's answer came to.
#[derive(Debug, Default, PartialEq, Eq)]
struct Read {
    records: u64,
    /// Key and value bytes.
    bytes: u64,
    /// The offset to fetch next.
    next_offset: i64,
}

pub(super) async fn execute(args: ConsumeBenchArgs) -> Result<(), CommandError> {
    let mut client = args.connect.connect().await?;
    let topic = client.topic(&args.topic).await?;
    let partitions: Vec<i32> = topic.partitions.iter().map(|p| p.partition).collect();
    if partitions.is_empty() {
        return Err(ClientError::Invalid(format!("topic {} has no partitions", topic.name)).into());
    }
    let positions = client
        .list_offsets(&topic, &partitions, OffsetSpec::Earliest)
        .await?;
    // Each leader's partitions not being fetched, in the order they are next asked for.
    let mut idle: BTreeMap<i32, IdlePartitions> = BTreeMap::new();
    for &partition in &partitions {
        idle.entry(topic.leader(partition)?)
            .or_default()
            .queue
            .push_back(partition);
    }
    let max_in_flight = args.max_in_flight as usize;
    let per_request: BTreeMap<i32, usize> = idle
        .iter()
        .map(|(&node, parts)| (node, parts.queue.len().div_ceil(max_in_flight)))
        .collect();
    let nodes: Vec<i32> = idle.keys().copied().collect();
    let mut pipeline: Pipeline<Asked> =
        Pipeline::connect(&mut client, &nodes, &[ApiKey::Fetch], max_in_flight).await?;
    let mut run = Run {
        topic,
        positions,
        high_watermarks: BTreeMap::new(),
        wait: Duration::from_millis(args.fetch_max_wait_ms),
        partition_bytes: args.max_partition_fetch_bytes as i32,
        wanted: args.num_records,
        records: 0,
        bytes: 0,
        latency: LatencyRecorder::new(),
        progress: Progress::new(args.num_records),
    };
    run.progress.log(&format!(
        "bench consume: {} records from the beginning of topic {} (partitions: {}, leaders: {}), \
         {max_in_flight} fetches in flight a connection",
        args.num_records,
        args.topic,
        partitions.len(),
        nodes.len(),
    ));

    let idle_max = Duration::from_millis(args.timeout_ms);
    let started = Instant::now();
    let mut last_record = started;
    let mut stalled = false;
    while run.records < run.wanted {
        for &node in &nodes {
            let queue = idle.get_mut(&node).expect("a leader's queue");
            while pipeline.has_room(node) {
                let connection_idle = pipeline.in_flight_to(node) == 0;
                let caught_up = |partition| run.caught_up(partition);
                let Some(asked) =
                    queue.next_request(per_request[&node], caught_up, connection_idle)
                else {
                    break;
                };
                run.send(&mut pipeline, node, asked).await?;
            }
        }
        let budget = idle_max.saturating_sub(last_record.elapsed());
        let answer = match tokio::time::timeout(budget, pipeline.next_answer()).await {
            Ok(Some(answer)) => answer,
            Ok(None) => unreachable!("every partition is idle or being fetched"),
            Err(_) => {
                stalled = true;
                break;
            }
        };
        let node = answer.node;
        let before = run.records;
        let asked = run.answered(answer)?;
        if run.records > before {
            last_record = Instant::now();
        }
        idle.get_mut(&node)
            .expect("a leader's queue")
            .queue
            .extend(asked);
    }
    let elapsed = if stalled {
        last_record - started
    } else {
        started.elapsed()
    };
    run.progress.finish();
    let report = Report {
        operation: "consume",
        topic: run.topic.name.clone(),
        records: run.records,
        bytes: run.bytes,
        elapsed,
        latency_of: "per Fetch request, its round trip",
        latency: run.latency.summary(),
    };
    print_out(&report.render(args.format))?;
    if stalled {
        return Err(CommandError::Input(format!(
            "read {} of {} records: none arrived for {} ms (the topic holds fewer?)",
            run.records, run.wanted, args.timeout_ms
        )));
    }
    Ok(())
}

struct Run {
    topic: TopicMetadata,
    /// The next offset to fetch of every partition.
    positions: BTreeMap<i32, i64>,
    /// Each partition's high watermark in its last answer.
    high_watermarks: BTreeMap<i32, i64>,
    wait: Duration,
    partition_bytes: i32,
    wanted: u64,
    records: u64,
    bytes: u64,
    latency: LatencyRecorder,
    progress: Progress,
}

impl Run {
    /// Whether `partition` had nothing past its position at its last answer.
    fn caught_up(&self, partition: i32) -> bool {
        self.high_watermarks
            .get(&partition)
            .is_some_and(|&high_watermark| self.positions[&partition] >= high_watermark)
    }

    async fn send(
        &mut self,
        pipeline: &mut Pipeline<Asked>,
        node: i32,
        partitions: Vec<i32>,
    ) -> Result<(), ClientError> {
        let asked: Vec<(i32, i64)> = partitions
            .iter()
            .map(|&partition| (partition, self.positions[&partition]))
            .collect();
        let body = RequestBody::from(FetchRequest {
            replica_id: -1,
            max_wait_ms: i32::try_from(self.wait.as_millis()).unwrap_or(i32::MAX),
            min_bytes: 1,
            max_bytes: FETCH_BYTES_MAX,
            isolation_level: 0,
            session_id: 0,
            session_epoch: -1,
            topics: vec![FetchTopic {
                // v13+ names the topic by id, earlier versions by name.
                topic: self.topic.name.clone(),
                topic_id: self.topic.topic_id,
                partitions: asked
                    .iter()
                    .map(|&(partition, offset)| FetchPartition {
                        partition,
                        fetch_offset: offset,
                        partition_max_bytes: self.partition_bytes,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        });
        let version = pipeline.version(node, ApiKey::Fetch)?;
        pipeline
            .send(node, version, &body, self.wait, Asked { partitions: asked })
            .await
    }

    /// Counts an answer's records (up to the records still wanted) and moves the positions on;
    /// answers the partitions it asked for, idle again. A partition's error ends the run.
    fn answered(&mut self, answer: Answer<Asked>) -> Result<Vec<i32>, ClientError> {
        let latency = answer.latency();
        let asked = answer.context;
        let response = match answer.response? {
            ResponseBody::Fetch(response) => response,
            other => unreachable!("Fetch answered as {}", other.api_key().name()),
        };
        client_check(&self.topic.name, None, response.error_code)?;
        self.latency.record(latency);
        let mut records = 0;
        for partition in response.responses.into_iter().flat_map(|t| t.partitions) {
            let index = partition.partition_index;
            client_check(&self.topic.name, Some(index), partition.error_code)?;
            self.high_watermarks.insert(index, partition.high_watermark);
            let Some(&(_, asked_offset)) = asked.partitions.iter().find(|(p, _)| *p == index)
            else {
                continue;
            };
            let Some(bytes) = partition.records.as_ref().and_then(|r| r.as_bytes()) else {
                continue;
            };
            let wanted = self.wanted - self.records;
            let read = read_records(bytes, asked_offset, wanted).map_err(|source| {
                ClientError::Records {
                    context: format!("reading topic {} partition {index}", self.topic.name),
                    source,
                }
            })?;
            self.records += read.records;
            self.bytes += read.bytes;
            records += read.records;
            self.positions.insert(index, read.next_offset);
        }
        self.progress.advance(records, self.bytes);
        Ok(asked.partitions.into_iter().map(|(p, _)| p).collect())
    }
}

/// A leader's partitions that have no fetch in flight, oldest answered first.
#[derive(Debug, Default)]
struct IdlePartitions {
    queue: VecDeque<i32>,
}

impl IdlePartitions {
    /// The partitions of the next Fetch to this leader, or `None` to wait for answers: up to
    /// `per_request` partitions with records to read (as their last high watermark says), with
    /// every caught-up partition riding along (the broker answers at once, new records or not).
    /// Caught-up partitions alone make a long poll, sent only on a connection with nothing else
    /// in flight: a connection's requests are answered in order, so a long poll would hold up
    /// every fetch behind it.
    fn next_request(
        &mut self,
        per_request: usize,
        caught_up: impl Fn(i32) -> bool,
        connection_idle: bool,
    ) -> Option<Vec<i32>> {
        let mut ready = Vec::new();
        let mut riders = Vec::new();
        let mut rest = VecDeque::new();
        for partition in self.queue.drain(..) {
            if caught_up(partition) {
                riders.push(partition);
            } else if ready.len() < per_request {
                ready.push(partition);
            } else {
                rest.push_back(partition);
            }
        }
        if ready.is_empty() {
            if connection_idle && !riders.is_empty() {
                return Some(riders);
            }
            self.queue = riders.into();
            return None;
        }
        self.queue = rest;
        ready.extend(riders);
        Some(ready)
    }
}

/// A partition's (or, with `None`, the whole fetch's) error code as an error.
fn client_check(topic: &str, partition: Option<i32>, code: i16) -> Result<(), ClientError> {
    if code == 0 {
        return Ok(());
    }
    let context = match partition {
        Some(partition) => format!("fetching topic {topic} partition {partition}"),
        None => format!("fetching topic {topic}"),
    };
    Err(ClientError::from_code(context, code, None))
}

/// Reads the records at or after `offset` in a fetched partition's `bytes`, at most `wanted` of
/// them: each batch's CRC is checked and its records decoded. A partial batch at the end (a
/// fetch may end mid-batch) is left for the next fetch; control batches (transaction markers)
/// only move the position.
fn read_records(bytes: &Bytes, offset: i64, wanted: u64) -> Result<Read, RecordsError> {
    let mut read = Read {
        next_offset: offset,
        ..Read::default()
    };
    for batch in RecordBatches::allowing_partial_tail(bytes) {
        let batch = batch?;
        batch.verify_crc()?;
        if !batch.is_control() {
            for record in decode_batch_records(&batch, bytes, DECOMPRESSED_BYTES_MAX)? {
                let record = record?;
                let record_offset = batch.base_offset() + i64::from(record.offset_delta);
                if record_offset < offset {
                    // A fetch starts at the batch holding `offset`: skip what came before.
                    continue;
                }
                if read.records == wanted {
                    return Ok(read);
                }
                read.records += 1;
                read.bytes += record.key.as_ref().map_or(0, |k| k.len() as u64)
                    + record.value.as_ref().map_or(0, |v| v.len() as u64);
                read.next_offset = record_offset + 1;
            }
        }
        read.next_offset = read.next_offset.max(batch.last_offset() + 1);
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use protocol::records::{Compression, Record, RecordBatchBuilder};

    use super::*;

    fn batch(base_offset: i64, values: &[&str]) -> Vec<u8> {
        let mut builder = RecordBatchBuilder::new()
            .base_offset(base_offset)
            .compression(Compression::Zstd);
        for (i, value) in values.iter().enumerate() {
            builder
                .push(Record {
                    offset_delta: i as i32,
                    timestamp_delta: 0,
                    key: (i == 0).then(|| Bytes::from_static(b"kk")),
                    value: Some(Bytes::copy_from_slice(value.as_bytes())),
                    headers: Vec::new(),
                })
                .unwrap();
        }
        builder.build().unwrap().to_vec()
    }

    #[test]
    fn records_are_counted_from_the_position_and_the_partial_tail_left() {
        let mut bytes = batch(10, &["a", "bb", "ccc"]);
        let second = batch(13, &["dddd"]);
        bytes.extend_from_slice(&second);
        bytes.extend_from_slice(&second[..30]);
        let read = read_records(&Bytes::from(bytes), 11, 100).unwrap();
        // Offsets 11 and 12 (values of 2 + 3 bytes) and 13 (key 2 + value 4); offset 10 (and
        // its key) came before the position.
        assert_eq!(
            read,
            Read {
                records: 3,
                bytes: 11,
                next_offset: 14
            }
        );
    }

    #[test]
    fn counting_stops_at_the_records_wanted() {
        let bytes = Bytes::from(batch(0, &["a", "bb", "ccc"]));
        let read = read_records(&bytes, 0, 2).unwrap();
        // The key (2 bytes) and values "a" and "bb"; the next fetch would start at 2.
        assert_eq!(
            read,
            Read {
                records: 2,
                bytes: 5,
                next_offset: 2
            }
        );
    }

    #[test]
    fn partitions_with_records_are_spread_over_requests() {
        let mut idle = IdlePartitions {
            queue: (0..5).collect(),
        };
        // Nothing answered yet: nothing is known to be caught up.
        assert_eq!(idle.next_request(2, |_| false, true), Some(vec![0, 1]));
        assert_eq!(idle.next_request(2, |_| false, false), Some(vec![2, 3]));
        assert_eq!(idle.next_request(2, |_| false, false), Some(vec![4]));
        assert_eq!(idle.next_request(2, |_| false, false), None);
    }

    #[test]
    fn caught_up_partitions_ride_along_or_long_poll_alone_on_an_idle_connection() {
        // Goal: no long poll is queued behind or ahead of fetches that would return records at
        // once. Method: partitions 0 and 1 caught up, 2 not.
        let caught_up = |partition| partition < 2;
        let mut idle = IdlePartitions {
            queue: (0..3).collect(),
        };
        assert_eq!(idle.next_request(1, caught_up, false), Some(vec![2, 0, 1]));
        let mut idle = IdlePartitions {
            queue: vec![0, 1].into(),
        };
        // Other fetches in flight on the connection: wait for them.
        assert_eq!(idle.next_request(1, caught_up, false), None);
        assert_eq!(idle.queue, [0, 1]);
        // Nothing else in flight: one long poll for all of them.
        assert_eq!(idle.next_request(1, caught_up, true), Some(vec![0, 1]));
        assert!(idle.queue.is_empty());
    }

    #[test]
    fn a_corrupt_batch_is_an_error() {
        let mut bytes = batch(0, &["a"]);
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        assert!(read_records(&Bytes::from(bytes), 0, 10).is_err());
    }
}
