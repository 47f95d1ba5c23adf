//! `runnel produce TOPIC`: one record per stdin line, optionally `KEY<SEP>VALUE`, with fixed
//! headers, to a chosen partition or by Kafka's key partitioner, at the acks and compression
//! asked for. A reader thread feeds lines into a bounded channel; each send takes what has
//! arrived (up to `LINES_PER_SEND_MAX`), so a pipe of a whole file goes in large batches and a
//! person typing sees each line sent at once.

use std::io::BufRead;
use std::process::ExitCode;

use bytes::Bytes;
use client::producer::{ProduceRecord, Producer, ProducerConfig};
use protocol::records::{Compression, RecordHeader};
use tokio::sync::mpsc;

use super::{CommandError, ConnectArgs, key_value};

/// Lines waiting between the reader thread and the producer.
const LINES_QUEUED_MAX: usize = 4096;
/// Lines taken into one send.
const LINES_PER_SEND_MAX: usize = 2000;

#[derive(clap::Args, Debug)]
pub struct ProduceArgs {
    /// The topic (it must exist: `runnel topic create`).
    topic: String,
    /// Split each line at the first SEP into key and value (a line without SEP is an error).
    #[arg(long, value_name = "SEP")]
    key_separator: Option<String>,
    /// A header on every record; repeatable: --header source=cli
    #[arg(long = "header", value_name = "KEY=VALUE", value_parser = key_value)]
    headers: Vec<(String, String)>,
    /// Write every record to this partition (default: by key with Kafka's murmur2
    /// partitioner; records without a key go a batch at a time to one partition).
    #[arg(long, value_name = "P")]
    partition: Option<i32>,
    /// Acknowledgement to wait for: all (-1), 1 (the leader) or 0 (none).
    #[arg(long, default_value = "all", value_parser = ["all", "-1", "1", "0"])]
    acks: String,
    /// Compression codec of the record batches (all of Kafka's codecs are supported).
    #[arg(long, value_enum, default_value_t = Codec::None)]
    compression: Codec,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// Kafka's compression codecs, as `--compression` names them (`runnel bench produce` too).
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(crate) enum Codec {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl From<Codec> for Compression {
    fn from(codec: Codec) -> Self {
        match codec {
            Codec::None => Compression::None,
            Codec::Gzip => Compression::Gzip,
            Codec::Snappy => Compression::Snappy,
            Codec::Lz4 => Compression::Lz4,
            Codec::Zstd => Compression::Zstd,
        }
    }
}

pub fn run(args: ProduceArgs) -> ExitCode {
    super::run("produce", execute(args))
}

/// A line read from stdin (without its `\n`), or why reading stopped.
type Line = Result<Vec<u8>, std::io::Error>;

async fn execute(args: ProduceArgs) -> Result<(), CommandError> {
    let mut client = args.connect.connect().await?;
    let config = ProducerConfig {
        acks: match args.acks.as_str() {
            "all" | "-1" => -1,
            "1" => 1,
            _ => 0,
        },
        compression: args.compression.into(),
        ..ProducerConfig::default()
    };
    let mut producer = Producer::new(&mut client, &args.topic, config).await?;
    let headers: Vec<RecordHeader> = args
        .headers
        .iter()
        .map(|(key, value)| RecordHeader {
            key: Bytes::copy_from_slice(key.as_bytes()),
            value: Some(Bytes::copy_from_slice(value.as_bytes())),
        })
        .collect();
    let (sender, mut lines) = mpsc::channel::<Line>(LINES_QUEUED_MAX);
    // Detached: a blocked stdin read cannot be interrupted, and the process ends with main.
    std::thread::spawn(move || read_lines(sender));
    let mut line_number: u64 = 0;
    while let Some(first) = lines.recv().await {
        let mut batch = vec![first];
        while batch.len() < LINES_PER_SEND_MAX {
            match lines.try_recv() {
                Ok(line) => batch.push(line),
                Err(_) => break,
            }
        }
        let mut records = Vec::with_capacity(batch.len());
        for line in batch {
            let line = line.map_err(|e| CommandError::Input(format!("reading stdin: {e}")))?;
            line_number += 1;
            records.push(to_record(&args, &headers, line, line_number)?);
        }
        producer.send(&mut client, records).await?;
    }
    Ok(())
}

fn read_lines(sender: mpsc::Sender<Line>) {
    let stdin = std::io::stdin();
    let mut stdin = stdin.lock();
    loop {
        let mut line = Vec::new();
        match stdin.read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) => {
                if line.last() == Some(&b'\n') {
                    line.pop();
                }
                if sender.blocking_send(Ok(line)).is_err() {
                    return;
                }
            }
            Err(error) => {
                let _ = sender.blocking_send(Err(error));
                return;
            }
        }
    }
}

fn to_record(
    args: &ProduceArgs,
    headers: &[RecordHeader],
    line: Vec<u8>,
    line_number: u64,
) -> Result<ProduceRecord, CommandError> {
    let (key, value) = match &args.key_separator {
        None => (None, line),
        Some(separator) => {
            let separator = separator.as_bytes();
            let at = find(&line, separator).ok_or_else(|| {
                CommandError::Input(format!(
                    "line {line_number} has no key separator {:?}",
                    String::from_utf8_lossy(separator)
                ))
            })?;
            let value = line[at + separator.len()..].to_vec();
            let mut key = line;
            key.truncate(at);
            (Some(Bytes::from(key)), value)
        }
    };
    Ok(ProduceRecord {
        key,
        value: Some(Bytes::from(value)),
        headers: headers.to_vec(),
        partition: args.partition,
        timestamp_ms: None,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}
