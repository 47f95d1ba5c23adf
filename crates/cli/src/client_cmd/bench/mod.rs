//! `runnel bench produce|consume TOPIC`: load generators for an existing topic, in the manner of
//! kafka-producer-perf-test and kafka-consumer-perf-test, against Runnel or Apache Kafka. A
//! line saying what runs and a progress bar on stderr while it runs (both only on a terminal),
//! then one report on stdout: records, bytes, seconds, records/s, MB/s and request latency
//! percentiles.
//!
//! The load generator must not be the bottleneck, so neither uses `Client`'s one-request-at-a-time
//! calls for its traffic: both keep several requests in flight on one connection per partition
//! leader (`client::pipeline`), and the producer sends prebuilt batches (`batch.rs`).
//!
//! Files: `produce.rs` and `consume.rs` (the two drivers), `batch.rs` (the producer's batches),
//! `throttle.rs` (`--throughput`), `report.rs` (latency histogram and the report).
//!
//! Not here: creating the topic (`runnel topic create`), retries (a failed request ends the run
//! with its error, as a benchmark should not hide one), consumer groups.

mod batch;
pub mod consume;
pub mod produce;
mod report;
mod throttle;

use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

pub use consume::ConsumeBenchArgs;
pub use produce::ProduceBenchArgs;

/// Requests in flight per connection by default: Kafka's `max.in.flight.requests.per.connection`.
const MAX_IN_FLIGHT_DEFAULT: usize = 5;
/// Bound on `--max-in-flight`.
const MAX_IN_FLIGHT_MAX: u64 = 100;
/// How often the progress bar's MB/s is refreshed.
const PROGRESS_REFRESH: Duration = Duration::from_millis(200);

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(clap::Subcommand, Debug)]
enum BenchCommand {
    /// Produce records to a topic as fast as acknowledged; report MB/s and request latency.
    ///
    /// Produces --num-records records of --record-size bytes to an existing topic, round-robin
    /// over its partitions a batch at a time, with up to --max-in-flight Produce requests in
    /// flight on one connection per partition leader. Latency is measured per Produce request,
    /// from the start of its write to its acknowledgement (not per record).
    Produce(ProduceBenchArgs),
    /// Read a topic from the beginning as fast as fetched; report MB/s and request latency.
    ///
    /// Reads --num-records records from the beginning of every partition of an existing topic
    /// (no consumer group, nothing committed), with up to --max-in-flight Fetch requests in
    /// flight on one connection per partition leader. Latency is measured per Fetch request,
    /// its round trip (including the broker's wait when a partition has nothing new).
    Consume(ConsumeBenchArgs),
}

pub fn run(args: BenchArgs) -> ExitCode {
    match args.command {
        BenchCommand::Produce(args) => super::run("bench produce", produce::execute(args)),
        BenchCommand::Consume(args) => super::run("bench consume", consume::execute(args)),
    }
}

/// A progress bar over `total` records on stderr; indicatif hides it when stderr is not a
/// terminal.
fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {human_pos}/{human_len} records, {per_sec:0}, {msg} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Writes a line above the bar. Only on a terminal: off one, stderr is kept for the one error
/// line a failed command prints, as the other subcommands keep it.
fn log(bar: &ProgressBar, line: &str) {
    if !bar.is_hidden() {
        bar.suspend(|| eprintln!("{line}"));
    }
}

/// Keeps the progress bar's MB/s message fresh without formatting it on every answer.
struct Progress {
    bar: ProgressBar,
    started: std::time::Instant,
    refreshed: std::time::Instant,
}

impl Progress {
    fn new(total: u64) -> Progress {
        let now = std::time::Instant::now();
        Progress {
            bar: progress_bar(total),
            started: now,
            refreshed: now,
        }
    }

    /// `records` more done; `bytes` done in all.
    fn advance(&mut self, records: u64, bytes: u64) {
        self.bar.inc(records);
        if self.bar.is_hidden() || self.refreshed.elapsed() < PROGRESS_REFRESH {
            return;
        }
        self.refreshed = std::time::Instant::now();
        let seconds = self.started.elapsed().as_secs_f64();
        if seconds > 0.0 {
            let mb_per_sec = bytes as f64 / (1024.0 * 1024.0) / seconds;
            self.bar.set_message(format!("{mb_per_sec:.1} MB/s,"));
        }
    }

    fn log(&self, line: &str) {
        log(&self.bar, line);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
