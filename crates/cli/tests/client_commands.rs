//! The `runnel` client subcommands as a user runs them: the built binary serves a broker (a
//! temporary log dir, a port the kernel picks, read back from its "serving" line), and every
//! subcommand runs as its own process against it; the test reads their stdout, stderr and exit
//! codes. One broker for the whole walk keeps it to a few seconds.
//!
//! Covered: topic create/list/describe/alter-config/delete; produce with keys (Kafka's murmur2
//! placement checked), headers and compression; consume from the beginning, by offset, as json
//! and with a template; consume with a KIP-848 group, then group describe (committed offsets,
//! lag 0), reset-offsets --to-earliest (lag = records), list and delete; cluster; a bad
//! argument exits 2; an unknown topic prints UNKNOWN_TOPIC_OR_PARTITION and exits non-zero.
//! `bench produce` and `bench consume`: their counts agree with each other and with the log's end
//! offsets; a short topic, a too-large record and an unknown topic end in one error line.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const RUNNEL: &str = env!("CARGO_BIN_EXE_runnel");
/// Bound on each client command (they take well under a second).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// `runnel serve` in a child process; stopped with SIGTERM when dropped.
struct Broker {
    child: Child,
    bootstrap: String,
    _log_dir: tempfile::TempDir,
}

impl Broker {
    fn start() -> Broker {
        let log_dir = tempfile::tempdir().expect("a temporary directory");
        let mut child = Command::new(RUNNEL)
            .args(["serve", "--override", "listeners=PLAINTEXT://127.0.0.1:0"])
            .arg("--override")
            .arg(format!("log.dirs={}", log_dir.path().display()))
            .args(["--override", "http.listeners="])
            .args(["--override", "offsets.topic.num.partitions=3"])
            .env("RUNNEL_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("runnel serve starts");
        // "runnel: serving PLAINTEXT on 127.0.0.1:PORT"
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let bootstrap = loop {
            let line = lines
                .next()
                .expect("runnel serve prints its listeners")
                .expect("read stdout");
            if let Some(address) = line.strip_prefix("runnel: serving PLAINTEXT on ") {
                break address.trim().to_string();
            }
        };
        Broker {
            child,
            bootstrap,
            _log_dir: log_dir,
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `runnel ARGS --bootstrap-server B` with `stdin`, bounded by `COMMAND_TIMEOUT`.
fn runnel(broker: &Broker, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(RUNNEL)
        .args(args)
        .args(["--bootstrap-server", &broker.bootstrap])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runnel starts");
    let mut input = child.stdin.take().expect("piped stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("output");
            panic!(
                "runnel {args:?} ran over {COMMAND_TIMEOUT:?}; stderr: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a command that must succeed; returns its stdout.
fn ok(broker: &Broker, args: &[&str], stdin: &str) -> String {
    let output = runnel(broker, args, stdin);
    assert!(
        output.status.success(),
        "runnel {args:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// Runs a command that must fail with exit code 1; returns its stderr.
fn fails(broker: &Broker, args: &[&str]) -> String {
    let output = runnel(broker, args, "");
    assert_eq!(
        output.status.code(),
        Some(1),
        "runnel {args:?}: stdout {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let stderr = String::from_utf8(output.stderr).expect("utf-8 stderr");
    assert_eq!(stderr.lines().count(), 1, "one error line: {stderr}");
    stderr
}

/// `group describe`'s partition rows: partition -> (current offset, log end, lag).
fn lag_rows(describe: &str, topic: &str) -> BTreeMap<i32, (String, i64, String)> {
    describe
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            (cells.len() >= 5 && cells[0] == topic).then(|| {
                (
                    cells[1].parse().expect("partition"),
                    (
                        cells[2].to_string(),
                        cells[3].parse().expect("log end offset"),
                        cells[4].to_string(),
                    ),
                )
            })
        })
        .collect()
}

#[test]
fn every_client_subcommand_round_trips_against_a_real_broker() {
    let broker = Broker::start();
    let topic = "orders";
    let records = 30;

    // cluster: the one node, at the address we reached it on.
    let cluster = ok(&broker, &["cluster"], "");
    assert!(cluster.contains("Controller: 1"), "{cluster}");
    let port = broker.bootstrap.rsplit(':').next().unwrap();
    assert!(
        cluster
            .lines()
            .any(|l| l.trim_start().starts_with("1 ") && l.contains(&format!("127.0.0.1:{port}"))),
        "{cluster}"
    );

    // topics
    let created = ok(
        &broker,
        &[
            "topic",
            "create",
            topic,
            "--partitions",
            "3",
            "--config",
            "retention.ms=3600000",
        ],
        "",
    );
    assert_eq!(created, format!("Created topic {topic}.\n"));
    let stderr = fails(&broker, &["topic", "create", topic, "--partitions", "3"]);
    assert!(stderr.contains("TOPIC_ALREADY_EXISTS"), "{stderr}");
    let list = ok(&broker, &["topic", "list"], "");
    assert_eq!(list, format!("{topic}\n"), "internal topics are left out");
    assert!(
        ok(&broker, &["topic", "list", "--include-internal"], "").contains("__consumer_offsets")
    );
    ok(
        &broker,
        &[
            "topic",
            "alter-config",
            topic,
            "--config",
            "segment.bytes=1048576",
        ],
        "",
    );
    let describe = ok(&broker, &["topic", "describe", topic], "");
    let first = describe.lines().next().unwrap();
    assert!(
        first.contains("PartitionCount: 3") && first.contains("ReplicationFactor: 1"),
        "{describe}"
    );
    assert!(
        first.contains("retention.ms=3600000") && first.contains("segment.bytes=1048576"),
        "{describe}"
    );
    for partition in 0..3 {
        assert!(
            describe.contains(&format!(
                "Partition: {partition}\tLeader: 1\tReplicas: 1\tIsr: 1"
            )),
            "{describe}"
        );
    }

    // produce: keyed lines with headers, lz4.
    let input: String = (0..records)
        .map(|i| format!("key-{i}:value {i}\n"))
        .collect();
    ok(
        &broker,
        &[
            "produce",
            topic,
            "--key-separator",
            ":",
            "--header",
            "source=test",
            "--header",
            "n=1",
            "--compression",
            "lz4",
        ],
        &input,
    );

    // consume them back as json: every record, in the partition Kafka's partitioner picks.
    let json = ok(
        &broker,
        &[
            "consume",
            topic,
            "--from-beginning",
            "--max-messages",
            &records.to_string(),
            "--format",
            "json",
        ],
        "",
    );
    let mut seen = BTreeSet::new();
    for line in json.lines() {
        let record: serde_json::Value = serde_json::from_str(line).expect("a JSON object a line");
        let key = record["key"].as_str().expect("a key").to_string();
        let i: usize = key.strip_prefix("key-").unwrap().parse().unwrap();
        assert_eq!(record["value"], format!("value {i}"));
        assert_eq!(record["topic"], topic);
        assert_eq!(
            record["partition"],
            client::partitioner::partition_for_key(key.as_bytes(), 3),
            "{line}"
        );
        assert_eq!(
            record["headers"],
            serde_json::json!([{"key": "source", "value": "test"}, {"key": "n", "value": "1"}])
        );
        assert!(record["timestamp"].as_i64().unwrap() > 0);
        seen.insert(i);
    }
    assert_eq!(seen, (0..records).collect::<BTreeSet<_>>());

    // a template, one partition from an offset.
    let from_one = ok(
        &broker,
        &[
            "consume",
            topic,
            "--partition",
            "0",
            "--offset",
            "1",
            "--max-messages",
            "1",
            "--format",
            r"{partition}\t{offset}\t{key}\t{headers}",
        ],
        "",
    );
    let cells: Vec<&str> = from_one.trim_end().split('\t').collect();
    assert_eq!(cells[..2], ["0", "1"], "{from_one}");
    assert!(
        cells[2].starts_with("key-") && cells[3] == "source=test,n=1",
        "{from_one}"
    );

    // a group: read everything, then its committed offsets leave no lag.
    let group = "audit";
    let values = ok(
        &broker,
        &[
            "consume",
            topic,
            "--group",
            group,
            "--from-beginning",
            "--max-messages",
            &records.to_string(),
        ],
        "",
    );
    assert_eq!(values.lines().count(), records);
    assert!(
        values.lines().all(|l| l.starts_with("value ")),
        "values by default: {values}"
    );
    let listed = ok(&broker, &["group", "list"], "");
    assert!(
        listed
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == [group, "consumer", "Empty"]),
        "{listed}"
    );
    let describe = ok(&broker, &["group", "describe", group], "");
    let rows = lag_rows(&describe, topic);
    assert_eq!(rows.len(), 3, "{describe}");
    let mut total: i64 = 0;
    for (current, end, lag) in rows.values() {
        assert_eq!(lag, "0", "{describe}");
        assert_eq!(current, &end.to_string(), "{describe}");
        total += end;
    }
    assert_eq!(total, records as i64, "{describe}");

    // reset to the earliest: the lag is every record again.
    let reset = ok(
        &broker,
        &[
            "group",
            "reset-offsets",
            group,
            "--topic",
            topic,
            "--to-earliest",
        ],
        "",
    );
    assert_eq!(reset.lines().count(), 4, "{reset}");
    let describe = ok(&broker, &["group", "describe", group], "");
    let lag: i64 = lag_rows(&describe, topic)
        .values()
        .map(|(_, _, lag)| lag.parse::<i64>().unwrap())
        .sum();
    assert_eq!(lag, records as i64, "{describe}");

    // delete the group, then the topic.
    assert_eq!(
        ok(&broker, &["group", "delete", group], ""),
        format!("Deleted group {group}.\n")
    );
    let stderr = fails(&broker, &["group", "describe", group]);
    assert!(stderr.contains("GROUP_ID_NOT_FOUND"), "{stderr}");
    assert_eq!(
        ok(&broker, &["topic", "delete", topic], ""),
        format!("Deleted topic {topic}.\n")
    );

    // an unknown topic: one error line naming Kafka's error, non-zero exit.
    for args in [
        &["topic", "describe", topic][..],
        &["consume", topic, "--max-messages", "1"],
        &["produce", topic],
    ] {
        let stderr = fails(&broker, args);
        assert!(
            stderr.contains("UNKNOWN_TOPIC_OR_PARTITION"),
            "{args:?}: {stderr}"
        );
    }

    // bad arguments: clap's usage (or the bad value and --help) and exit 2, before any connection.
    for args in [
        &["topic", "create", "t"][..],
        &["consume", topic, "--bogus"],
        &["consume", topic, "--format", "{nope}"],
        &["consume", topic, "--group", "g", "--offset", "3"],
        &["group", "reset-offsets", "g", "--topic", topic],
        &["produce", topic, "--compression", "brotli"],
    ] {
        let output = runnel(&broker, args, "");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        // clap: the usage line, or for a bad value the reason and a pointer to --help.
        assert!(
            stderr.starts_with("error: ")
                && (stderr.contains("Usage: ") || stderr.contains("--help")),
            "{args:?}: {stderr}"
        );
    }
}

/// The rows of `group reset-offsets --dry-run` for `topic`: partition -> new offset.
fn new_offsets(reset: &str, topic: &str) -> BTreeMap<i32, i64> {
    reset
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            (cells.len() == 4 && cells[1] == topic).then(|| {
                (
                    cells[2].parse().expect("partition"),
                    cells[3].parse().expect("offset"),
                )
            })
        })
        .collect()
}

#[test]
fn bench_produce_and_consume_agree_with_the_log() {
    // Goal: what `runnel bench` reports is what reached the log. Method: produce 5,000 records in
    // small batches (so round-robin reaches every partition) into 3 partitions, read them back,
    // and compare both JSON reports with the end offsets a reset to the latest would commit.
    let broker = Broker::start();
    let topic = "bench";
    ok(
        &broker,
        &["topic", "create", topic, "--partitions", "3"],
        "",
    );
    let produce = [
        "bench",
        "produce",
        topic,
        "--num-records",
        "5000",
        "--record-size",
        "10",
        "--batch-size",
        "500",
        "--format",
        "json",
    ];
    let report: serde_json::Value =
        serde_json::from_str(&ok(&broker, &produce, "")).expect("one JSON object");
    assert_eq!(report["operation"], "produce");
    assert_eq!(report["records"], 5000);
    assert_eq!(report["bytes"], 50_000);
    assert!(report["requests"].as_u64().unwrap() > 1, "{report}");
    let latency = &report["latency_ms"];
    assert!(latency["p50"].as_f64().unwrap() <= latency["max"].as_f64().unwrap());

    let consume = [
        "bench",
        "consume",
        topic,
        "--num-records",
        "5000",
        "--format",
        "json",
    ];
    let report: serde_json::Value =
        serde_json::from_str(&ok(&broker, &consume, "")).expect("one JSON object");
    assert_eq!(report["operation"], "consume");
    assert_eq!(report["records"], 5000);
    assert_eq!(report["bytes"], 50_000);

    let reset = ok(
        &broker,
        &[
            "group",
            "reset-offsets",
            "probe",
            "--topic",
            topic,
            "--to-latest",
            "--dry-run",
        ],
        "",
    );
    let ends = new_offsets(&reset, topic);
    assert_eq!(ends.len(), 3, "{reset}");
    assert!(ends.values().all(|&end| end > 0), "{reset}");
    assert_eq!(ends.values().sum::<i64>(), 5000, "{reset}");

    // The text report, acks=1, one request in flight; stderr stays empty off a terminal.
    let output = runnel(
        &broker,
        &[
            "bench",
            "produce",
            topic,
            "--num-records",
            "100",
            "--acks",
            "1",
            "--max-in-flight",
            "1",
        ],
        "",
    );
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.starts_with("bench produce\n"), "{text}");
    assert!(text.contains("\n  records    100\n"), "{text}");
    assert!(text.contains("\n  latency ms p50 "), "{text}");
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Asking for more than the topic holds: the report of what was read, then one error line.
    let output = runnel(
        &broker,
        &[
            "bench",
            "consume",
            topic,
            "--num-records",
            "1000000",
            "--timeout-ms",
            "300",
        ],
        "",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("\n  records    5100\n"));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("read 5100 of 1000000 records"), "{stderr}");

    // A record over the broker's max.message.bytes, and an unknown topic: Kafka's error names.
    let stderr = fails(
        &broker,
        &[
            "bench",
            "produce",
            topic,
            "--num-records",
            "1",
            "--record-size",
            "2000000",
        ],
    );
    assert!(stderr.contains("MESSAGE_TOO_LARGE"), "{stderr}");
    let stderr = fails(
        &broker,
        &["bench", "consume", "missing", "--num-records", "1"],
    );
    assert!(stderr.contains("UNKNOWN_TOPIC_OR_PARTITION"), "{stderr}");
}
