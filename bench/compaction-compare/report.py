#!/usr/bin/env python3
"""bench/compaction-compare/report.py -- the log reading and the table of
bench/compaction-compare.sh.

What this file owns: how a cleaning is read from each broker's log, and the summary table.

  report.py cleaning runnel|kafka LOGFILE TOPIC
      The first cleaning of partition 0 of TOPIC found in the broker's log, as one line of
      key=value pairs: done=1 cleanings=N end_ms=.. elapsed_ms=.. read_bytes=.. written_bytes=..
      records_read=.. records_kept=.. end_offset=.. mib_per_s=..; "done=0 cleanings=0" when
      there is none yet.
        Runnel: the INFO line "log cleaned" (broker::log_cleaner) with topic=, partition=,
        elapsed_ms, read_bytes, written_bytes, records_read, records_kept, end_offset; the time
        is the line's RFC 3339 timestamp.
        Kafka: the stats block of LogCleaner$CleanerThread ("Log cleaner thread 0 cleaned log
        T-0 (dirty section = [a, b])", "X MB of log processed in Y seconds (Z MB/sec)",
        "Start size", "End size"); its MB are MiB (2^20 bytes), printed with one decimal, so
        read_bytes and written_bytes are rounded to 0.05 MiB and elapsed_ms is X / Z; the time
        is the line's epoch-ms stamp (the log4j2 pattern %d{UNIX_MILLIS} the script sets).
      mib_per_s is read bytes / 2^20 / elapsed seconds for both.
  report.py table RESULTS.tsv
      The Markdown table: medians of the repetitions, every run, Runnel / Kafka, the targets.
      RESULTS.tsv rows: broker, metric, repetition, value ("n/a ..." for a failed run).
"""
import datetime
import re
import statistics
import sys

RUNNEL_LINE = re.compile(r"^(\S+)\s+INFO\s+\S*log_cleaner\S*: log cleaned (.*)$")
KAFKA_BLOCK = re.compile(
    r"\[(\d+)\] INFO \[kafka-log-cleaner-thread-\d+\]:\s*\n"
    r"\s*Log cleaner thread \d+ cleaned log (\S+) \(dirty section = \[(\d+), (\d+)\]\)\s*\n"
    r"\s*([\d,.]+) MB of log processed in ([\d,.]+) seconds \(([\d,.]+) MB/sec\)\."
    r".*?Start size: ([\d,.]+) MB \(([\d,]+) messages\)\s*\n"
    r"\s*End size: ([\d,.]+) MB \(([\d,]+) messages\)",
    re.S,
)


def num(text):
    return float(text.replace(",", ""))


def runnel_cleanings(text, topic):
    for line in text.splitlines():
        m = RUNNEL_LINE.match(line)
        if not m:
            continue
        fields = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', m.group(2)))
        fields = {k: v.strip('"') for k, v in fields.items()}
        if fields.get("topic") != topic or fields.get("partition") != "0":
            continue
        stamp = datetime.datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
        elapsed = int(fields["elapsed_ms"])
        read = int(fields["read_bytes"])
        yield {
            "end_ms": int(stamp.timestamp() * 1000),
            "elapsed_ms": elapsed,
            "read_bytes": read,
            "written_bytes": int(fields["written_bytes"]),
            "records_read": int(fields["records_read"]),
            "records_kept": int(fields["records_kept"]),
            "end_offset": int(fields["end_offset"]),
            "mib_per_s": read / 2**20 / max(elapsed, 1) * 1000,
        }


def kafka_cleanings(text, topic):
    for m in KAFKA_BLOCK.finditer(text):
        if m.group(2) != f"{topic}-0":
            continue
        mib, rate = num(m.group(5)), num(m.group(7))
        yield {
            "end_ms": int(m.group(1)),
            "elapsed_ms": round(mib / rate * 1000) if rate > 0 else round(num(m.group(6)) * 1000),
            "read_bytes": round(num(m.group(8)) * 2**20),
            "written_bytes": round(num(m.group(10)) * 2**20),
            "records_read": int(num(m.group(9))),
            "records_kept": int(num(m.group(11))),
            "end_offset": int(m.group(4)),
            "mib_per_s": rate,
        }


def cleaning(broker, path, topic):
    with open(path, errors="replace") as f:
        text = f.read()
    found = list((runnel_cleanings if broker == "runnel" else kafka_cleanings)(text, topic))
    if not found:
        print("done=0 cleanings=0")
        return
    first = found[0]
    out = [f"done=1 cleanings={len(found)}"]
    for k, v in first.items():
        out.append(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}")
    print(" ".join(out))


# (metric, label, unit, format, target text, target check on (runnel, kafka) medians or None)
ROWS = [
    ("clean_mib_s", "cleaner throughput, first full cleaning", "MiB/s", "{:.1f}",
     "Runnel >= Kafka", lambda r, k: r >= k),
    ("clean_read_mib", "dirty log read by that cleaning", "MiB", "{:.1f}", "", None),
    ("clean_elapsed_s", "cleaning time (the broker's own figure)", "s", "{:.2f}", "", None),
    ("clean_cpu_s", "cleaner thread CPU (user+sys) over the cleaning", "s", "{:.2f}", "", None),
    ("clean_mib_per_cpu_s", "dirty log cleaned per cleaner CPU-second", "MiB/CPU-s", "{:.1f}", "", None),
    ("clean_written_mib", "log after cleaning (written)", "MiB", "{:.1f}", "", None),
    ("clean_records_read", "records read by the cleaning", "", "{:,.0f}", "", None),
    ("clean_records_kept", "records kept", "", "{:,.0f}", "", None),
    ("verify_bad_keys", "keys missing or without their last value, read back after cleaning", "keys", "{:.0f}",
     "0", lambda r, k: r == 0),
    ("fill_mib_s", "fill (keyed producer, for reference)", "MiB/s", "{:.1f}", "", None),
    ("produce_off_mib_s", "produce, cleaner disabled", "MiB/s", "{:.1f}", "", None),
    ("produce_on_mib_s", "produce, while the cleaner cleans", "MiB/s", "{:.1f}", "", None),
    ("produce_drop_pct", "produce drop while cleaning (per-rep pairs)", "%", "{:.1f}",
     "Runnel <= 10", lambda r, k: r <= 10),
    ("coverage_pct", "share of the produce run the cleaner was cleaning", "%", "{:.0f}", "", None),
    ("busy_clean_mib_s", "cleaner throughput on the big log, while producing", "MiB/s", "{:.1f}", "", None),
    ("broker_cpu_off_s", "broker CPU during the produce run, cleaner disabled", "s", "{:.2f}", "", None),
    ("broker_cpu_on_s", "broker CPU during the produce run, cleaning", "s", "{:.2f}", "", None),
    ("cleaner_cpu_on_s", "of which the cleaner thread", "s", "{:.2f}", "", None),
]


def table(path):
    values = {}
    for line in open(path):
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 4:
            continue
        broker, metric, rep, value = parts
        values.setdefault((broker, metric), []).append((int(rep), value))
    brokers = [b for b in ("runnel", "kafka") if any(k[0] == b for k in values)]
    names = {"runnel": "Runnel", "kafka": "Kafka 4.4.0"}
    head = "| Measure | Unit | " + " | ".join(f"{names[b]}: median (runs)" for b in brokers)
    if brokers == ["runnel", "kafka"]:
        head += " | Runnel / Kafka | Target | Met"
    print(head + " |")
    print("|" + "---|" * (head.count("|")))
    for metric, label, unit, fmt, target, check in ROWS:
        meds, cells = {}, []
        for b in brokers:
            runs = sorted(values.get((b, metric), []))
            if not runs:
                cells.append("–")
                continue
            nums = []
            shown = []
            for _, v in runs:
                try:
                    nums.append(float(v))
                    shown.append(fmt.format(float(v)))
                except ValueError:
                    shown.append(v)
            if nums:
                meds[b] = statistics.median(nums)
                cells.append(f"**{fmt.format(meds[b])}** ({', '.join(shown)})")
            else:
                cells.append(f"n/a ({', '.join(shown)})")
        if all(c == "–" for c in cells):
            continue
        row = f"| {label} | {unit} | " + " | ".join(cells)
        if brokers == ["runnel", "kafka"]:
            r, k = meds.get("runnel"), meds.get("kafka")
            ratio = f"{r / k:.2f}" if r is not None and k not in (None, 0) else "–"
            met = ""
            if check is not None and r is not None and (k is not None or metric in ("verify_bad_keys", "produce_drop_pct")):
                met = "yes" if check(r, k) else "**no**"
            row += f" | {ratio} | {target} | {met}"
        print(row + " |")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "cleaning":
        cleaning(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 3 and sys.argv[1] == "table":
        table(sys.argv[2])
    else:
        sys.exit("usage: report.py cleaning runnel|kafka LOG TOPIC | report.py table RESULTS.tsv")
