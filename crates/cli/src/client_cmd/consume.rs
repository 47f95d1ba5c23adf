//! `runnel consume TOPIC`: prints records, one a line, from every partition (or one) starting
//! at the end, the beginning, an offset or a time; or as a member of a consumer group
//! (KIP-848: the coordinator assigns partitions), starting at the group's committed offsets and
//! committing what was printed. Ends after `--max-messages`, after `--timeout-ms` without a
//! record, or on Ctrl-C/SIGTERM; a group member then commits and leaves the group.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use client::consumer::{Consumer, ConsumerConfig, StartAt};

use super::format::RecordFormat;
use super::{CommandError, ConnectArgs, print_out};

/// Records printed per poll at most (the rest wait for the next poll).
const RECORDS_PER_POLL_MAX: usize = 500;

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("start").args(["from_beginning", "offset", "timestamp"])))]
pub struct ConsumeArgs {
    /// The topic to read.
    topic: String,
    /// Read as a member of this consumer group (KIP-848), from its committed offsets, and
    /// commit what was printed.
    #[arg(long, value_name = "G", conflicts_with_all = ["offset", "timestamp", "partition"])]
    group: Option<String>,
    /// Start at the earliest record (with --group: where the group has no committed offset).
    #[arg(long)]
    from_beginning: bool,
    /// Start at this offset (in every partition read).
    #[arg(long, value_name = "O")]
    offset: Option<i64>,
    /// Start at the first record at or after this time (ms since the epoch).
    #[arg(long, value_name = "T")]
    timestamp: Option<i64>,
    /// Read only this partition.
    #[arg(long, value_name = "P")]
    partition: Option<i32>,
    /// Stop after this many records.
    #[arg(long, value_name = "N")]
    max_messages: Option<u64>,
    /// Stop when no record arrived for this long.
    #[arg(long, value_name = "MS")]
    timeout_ms: Option<u64>,
    /// How to print a record: a template with {key} {value} {headers} {partition} {offset}
    /// {timestamp} {topic} (\t and \n are read as tab and newline), or `json` for one JSON
    /// object per record.
    #[arg(long, value_name = "FMT", default_value = "{value}", value_parser = RecordFormat::parse)]
    format: RecordFormat,
    #[command(flatten)]
    connect: ConnectArgs,
}

pub fn run(args: ConsumeArgs) -> ExitCode {
    super::run("consume", execute(args))
}

async fn execute(args: ConsumeArgs) -> Result<(), CommandError> {
    let stop = Arc::new(AtomicBool::new(false));
    tokio::spawn(watch_signals(Arc::clone(&stop)));
    let mut client = args.connect.connect().await?;
    let mut config = ConsumerConfig::new(&args.topic);
    config.partitions = args.partition.map(|p| vec![p]);
    config.group = args.group.clone();
    config.start = match (args.from_beginning, args.offset, args.timestamp) {
        (true, _, _) => StartAt::Earliest,
        (_, Some(offset), _) => StartAt::Offset(offset),
        (_, _, Some(timestamp)) => StartAt::Timestamp(timestamp),
        _ => StartAt::Latest,
    };
    let mut consumer = Consumer::new(&mut client, config).await?;
    let result = consume(&args, &mut client, &mut consumer, &stop).await;
    // A group member commits what was printed and leaves, whatever ended the loop.
    let closed = consumer.close(&mut client).await;
    result?;
    closed?;
    Ok(())
}

async fn consume(
    args: &ConsumeArgs,
    client: &mut client::Client,
    consumer: &mut Consumer,
    stop: &AtomicBool,
) -> Result<(), CommandError> {
    let mut printed: u64 = 0;
    let mut last_record = Instant::now();
    let idle_max = args.timeout_ms.map(Duration::from_millis);
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut wanted = RECORDS_PER_POLL_MAX;
        if let Some(max) = args.max_messages {
            if printed >= max {
                return Ok(());
            }
            wanted = wanted.min((max - printed) as usize);
        }
        let records = consumer.poll(client, wanted).await?;
        if records.is_empty() {
            if idle_max.is_some_and(|idle| last_record.elapsed() >= idle) {
                return Ok(());
            }
            continue;
        }
        last_record = Instant::now();
        let mut out = String::new();
        for record in &records {
            out.push_str(&args.format.render(&args.topic, record));
        }
        printed += records.len() as u64;
        if !print_out(&out)? {
            // The reader went away (`| head`): stop as if done.
            return Ok(());
        }
    }
}

/// The first Ctrl-C (or SIGTERM) ends the loop cleanly; a second one ends the process.
async fn watch_signals(stop: Arc<AtomicBool>) {
    crate::wait_for_signal().await;
    stop.store(true, Ordering::Relaxed);
    crate::wait_for_signal().await;
    std::process::exit(130);
}
