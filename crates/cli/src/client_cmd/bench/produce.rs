//! `runnel bench produce TOPIC`: produces `--num-records` records of `--record-size` bytes to an
//! existing topic as fast as the brokers acknowledge them (or at `--throughput`), and reports
//! throughput and the latency of each Produce request.
//!
//! How: one pipelined connection per partition leader with up to `--max-in-flight` Produce
//! requests in flight on each; a request carries one batch (`--batch-size`, prebuilt and
//! re-stamped: `batch.rs`) for each of as many of that leader's partitions as fit in
//! `--max-request-size`, taking the leader's partitions round-robin, as Kafka's sender drains one
//! batch per partition into a request. A request's latency runs from the start of its write to
//! its acknowledgement (with acks=0, to the end of its write).
//!
//! Before the run it waits (within the request timeout) until every partition's leader answers
//! ListOffsets: a topic created a moment before may not be led yet (Kafka answers
//! NOT_LEADER_OR_FOLLOWER until the leader has taken the partition), and the run itself does
//! not retry.
//!
//! Not here: retries (the first error ends the run), keys and partitioners, idempotence.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use client::fetch::OffsetSpec;
use client::pipeline::{Answer, Pipeline};
use client::{ClientError, TopicMetadata};
use protocol::generated::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use protocol::records::Compression;
use protocol::{ApiKey, Records, RequestBody, ResponseBody};

use super::batch::{BatchTemplate, random_payload, records_per_batch};
use super::report::{LatencyRecorder, Report, ReportFormat};
use super::throttle::ThroughputThrottler;
use super::{MAX_IN_FLIGHT_DEFAULT, MAX_IN_FLIGHT_MAX, Progress};
use crate::client_cmd::produce::Codec;
use crate::client_cmd::{CommandError, ConnectArgs, print_out};

/// Largest `--record-size`.
const RECORD_BYTES_MAX: u64 = 16 << 20;
/// Largest `--batch-size` and `--max-request-size`.
const REQUEST_BYTES_MAX: u64 = 64 << 20;

#[derive(clap::Args, Debug)]
pub struct ProduceBenchArgs {
    /// The topic (it must exist: `runnel topic create`). Records go to all its partitions,
    /// round-robin a batch at a time.
    topic: String,
    /// Records to produce.
    #[arg(long, value_name = "N", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    num_records: u64,
    /// Bytes of each record's value (random letters, made once; records have no key).
    #[arg(long, value_name = "BYTES", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(0..=RECORD_BYTES_MAX))]
    record_size: u64,
    /// Bytes of a record batch, header included, before compression (Kafka's batch.size): as
    /// many records as fit, at least one.
    #[arg(long, value_name = "BYTES", default_value_t = 16_384,
          value_parser = clap::value_parser!(u64).range(1..=REQUEST_BYTES_MAX))]
    batch_size: u64,
    /// Hold the rate to about this many records a second (-1: as fast as acknowledged).
    #[arg(long, value_name = "RECORDS/S", default_value_t = -1.0,
          allow_negative_numbers = true, value_parser = throughput)]
    throughput: f64,
    /// Acknowledgement to wait for: all (-1), 1 (the leader) or 0 (none; latency is then the
    /// time to write the request).
    #[arg(long, default_value = "all", value_parser = ["all", "-1", "1", "0"])]
    acks: String,
    /// Compression codec of the batches (each batch is compressed once, before the run).
    #[arg(long, value_enum, default_value_t = Codec::None)]
    compression: Codec,
    /// Produce requests in flight on each broker connection (Kafka's
    /// max.in.flight.requests.per.connection).
    #[arg(long, value_name = "N", default_value_t = MAX_IN_FLIGHT_DEFAULT as u64,
          value_parser = clap::value_parser!(u64).range(1..=MAX_IN_FLIGHT_MAX))]
    max_in_flight: u64,
    /// Bytes of batches in one Produce request at most (Kafka's max.request.size); a request
    /// always carries at least one batch.
    #[arg(long, value_name = "BYTES", default_value_t = 1_048_576,
          value_parser = clap::value_parser!(u64).range(1..=REQUEST_BYTES_MAX))]
    max_request_size: u64,
    /// The report: aligned text, or one JSON object.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    format: ReportFormat,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// `--throughput`: -1 (unlimited) or a positive rate.
fn throughput(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate == -1.0 || (rate > 0.0 && rate.is_finite()) => Ok(rate),
        _ => Err(format!(
            "expected -1 or a positive number of records a second, got {text:?}"
        )),
    }
}

/// What one Produce request carried, kept until its answer.
#[derive(Debug)]
struct Sent {
    batches: usize,
    records: u64,
}

/// The run's state: what is left to send, where it goes, what came back.
struct Run {
    topic: TopicMetadata,
    acks: i16,
    timeout: Duration,
    /// Each leader's partitions, and the index of the next one to write to.
    leaders: BTreeMap<i32, (Vec<i32>, usize)>,
    batches_per_request: usize,
    full: BatchTemplate,
    /// The last batch, when `num_records` is not a multiple of a full batch's records.
    tail: Option<BatchTemplate>,
    record_bytes: u64,
    /// Records not yet put in a request.
    unsent: u64,
    sent: u64,
    acknowledged: u64,
    latency: LatencyRecorder,
    progress: Progress,
}

pub(super) async fn execute(args: ProduceBenchArgs) -> Result<(), CommandError> {
    let acks: i16 = match args.acks.as_str() {
        "all" | "-1" => -1,
        "1" => 1,
        _ => 0,
    };
    let mut client = args.connect.connect().await?;
    let timeout = client.config().request_timeout;
    let topic = client.topic(&args.topic).await?;
    let all: Vec<i32> = topic.partitions.iter().map(|p| p.partition).collect();
    client
        .list_offsets(&topic, &all, OffsetSpec::Latest)
        .await?;
    // The leaders that answered (a retry may have found new ones).
    let topic = client.topic(&args.topic).await?;
    let mut leaders: BTreeMap<i32, (Vec<i32>, usize)> = BTreeMap::new();
    for partition in &topic.partitions {
        let leader = topic.leader(partition.partition)?;
        leaders
            .entry(leader)
            .or_default()
            .0
            .push(partition.partition);
    }
    if leaders.is_empty() {
        return Err(ClientError::Invalid(format!("topic {} has no partitions", topic.name)).into());
    }
    let nodes: Vec<i32> = leaders.keys().copied().collect();
    let mut pipeline: Pipeline<Sent> = Pipeline::connect(
        &mut client,
        &nodes,
        &[ApiKey::Produce],
        args.max_in_flight as usize,
    )
    .await?;

    let records_error = |source| ClientError::Records {
        context: format!("building a batch for topic {}", args.topic),
        source,
    };
    let record_size = args.record_size as usize;
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let value = random_payload(record_size, seed);
    let compression = Compression::from(args.compression);
    let per_batch =
        u64::from(records_per_batch(record_size, args.batch_size as usize)).min(args.num_records);
    let full =
        BatchTemplate::build(per_batch as u32, &value, compression).map_err(records_error)?;
    let tail = match args.num_records % per_batch {
        0 => None,
        rest => {
            Some(BatchTemplate::build(rest as u32, &value, compression).map_err(records_error)?)
        }
    };
    // One batch per partition in a request (Kafka's rule since Produce v3), as many as fit.
    let partitions_per_leader_max = leaders.values().map(|(p, _)| p.len()).max().unwrap_or(1);
    let batches_per_request =
        (args.max_request_size as usize / full.size_bytes()).clamp(1, partitions_per_leader_max);
    let partitions = topic.partitions.len();
    let mut run = Run {
        acks,
        timeout,
        leaders,
        batches_per_request,
        full,
        tail,
        record_bytes: args.record_size,
        unsent: args.num_records,
        sent: 0,
        acknowledged: 0,
        latency: LatencyRecorder::new(),
        progress: Progress::new(args.num_records),
        topic,
    };
    run.progress.log(&format!(
        "bench produce: {} records of {} bytes to topic {} (partitions: {partitions}, leaders: {}); \
         {per_batch} records ({} bytes) a batch, up to {batches_per_request} batches a request, \
         {} requests in flight a connection, acks {}",
        args.num_records,
        args.record_size,
        args.topic,
        nodes.len(),
        run.full.size_bytes(),
        args.max_in_flight,
        args.acks,
    ));

    let throttler = ThroughputThrottler::new(args.throughput);
    let started = Instant::now();
    loop {
        // Send whatever the connections and the throttle allow.
        let mut wait = Duration::ZERO;
        'fill: while run.unsent > 0 {
            let mut sent_any = false;
            for &node in &nodes {
                if run.unsent == 0 {
                    break 'fill;
                }
                if !pipeline.has_room(node) {
                    continue;
                }
                wait = throttler.delay(started.elapsed(), run.sent);
                if !wait.is_zero() {
                    break 'fill;
                }
                run.send(&mut pipeline, node).await?;
                sent_any = true;
            }
            if !sent_any {
                break;
            }
        }
        if run.unsent == 0 && pipeline.in_flight() == 0 {
            break;
        }
        // Then take an answer (or wait out the throttle, reading answers meanwhile:
        // `next_answer` is cancel-safe).
        let answer = if wait.is_zero() {
            pipeline.next_answer().await
        } else {
            tokio::select! {
                answer = pipeline.next_answer() => answer,
                () = tokio::time::sleep(wait) => continue,
            }
        };
        match answer {
            Some(answer) => run.answered(answer)?,
            // Nothing in flight (acks=0, or all answered) while the throttle holds the rest.
            None => tokio::time::sleep(wait).await,
        }
    }
    let elapsed = started.elapsed();
    run.progress.finish();
    let report = Report {
        operation: "produce",
        topic: run.topic.name.clone(),
        records: run.acknowledged,
        bytes: run.acknowledged * run.record_bytes,
        elapsed,
        latency_of: if acks == 0 {
            "per Produce request, to the end of its write (acks=0)"
        } else {
            "per Produce request, from its write to its acknowledgement"
        },
        latency: run.latency.summary(),
    };
    print_out(&report.render(args.format))?;
    Ok(())
}

impl Run {
    /// Sends one Produce request to `node`: the next batch of each of up to
    /// `batches_per_request` of its partitions.
    async fn send(&mut self, pipeline: &mut Pipeline<Sent>, node: i32) -> Result<(), ClientError> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let (partitions, next) = self.leaders.get_mut(&node).expect("a leader's node");
        let mut partition_data = Vec::with_capacity(self.batches_per_request);
        let mut records = 0;
        for _ in 0..self.batches_per_request.min(partitions.len()) {
            if self.unsent == 0 {
                break;
            }
            let template = match &mut self.tail {
                Some(tail) if self.unsent < u64::from(self.full.records()) => tail,
                _ => &mut self.full,
            };
            let count = u64::from(template.records());
            debug_assert!(count <= self.unsent);
            partition_data.push(PartitionProduceData {
                index: partitions[*next % partitions.len()],
                records: Some(Records::Bytes(template.stamp(now_ms))),
                ..Default::default()
            });
            *next = (*next + 1) % partitions.len();
            self.unsent -= count;
            records += count;
        }
        let batches = partition_data.len();
        let body = RequestBody::from(ProduceRequest {
            transactional_id: None,
            acks: self.acks,
            timeout_ms: i32::try_from(self.timeout.as_millis()).unwrap_or(i32::MAX),
            topic_data: vec![TopicProduceData {
                // v13 names the topic by id, earlier versions by name.
                name: self.topic.name.clone(),
                topic_id: self.topic.topic_id,
                partition_data,
                ..Default::default()
            }],
            ..Default::default()
        });
        let version = pipeline.version(node, ApiKey::Produce)?;
        self.sent += records;
        if self.acks == 0 {
            let written = Instant::now();
            pipeline.send_without_response(node, version, &body).await?;
            self.latency.record(written.elapsed());
            self.acknowledged += records;
            self.progress
                .advance(records, self.acknowledged * self.record_bytes);
            return Ok(());
        }
        // The broker may hold an acks=all request up to its timeout: wait that much longer.
        let sent = Sent { batches, records };
        pipeline
            .send(node, version, &body, self.timeout, sent)
            .await
    }

    /// Checks every partition's answer (the first error ends the run) and counts the records.
    fn answered(&mut self, answer: Answer<Sent>) -> Result<(), ClientError> {
        let latency = answer.latency();
        let sent = answer.context;
        let response = match answer.response? {
            ResponseBody::Produce(response) => response,
            other => unreachable!("Produce answered as {}", other.api_key().name()),
        };
        let mut answered = 0;
        for topic in response.responses {
            for partition in topic.partition_responses {
                if partition.error_code != 0 {
                    return Err(ClientError::from_code(
                        format!(
                            "producing to topic {} partition {}",
                            self.topic.name, partition.index
                        ),
                        partition.error_code,
                        partition.error_message,
                    ));
                }
                answered += 1;
            }
        }
        if answered != sent.batches {
            return Err(ClientError::Invalid(format!(
                "producing to topic {}: broker {} answered {answered} of {} partitions",
                self.topic.name, answer.node, sent.batches
            )));
        }
        self.latency.record(latency);
        self.acknowledged += sent.records;
        self.progress
            .advance(sent.records, self.acknowledged * self.record_bytes);
        Ok(())
    }
}
