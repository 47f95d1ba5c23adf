#!/usr/bin/env python3
"""bench/txn-compare/report.py -- the summary table of bench/txn-compare.sh.

What this file owns: the Markdown table made from RESULTS.tsv (rows: broker, metric,
repetition, value; "n/a ..." for a failed run): per scenario (produce, ctp) the medians of the
repetitions, every run in order, Runnel / Kafka and the targets (Runnel records/s >= Kafka's;
Runnel commit p99 <= half of Kafka's, i.e. a ratio <= 0.5).

  report.py RESULTS.tsv
"""
import statistics
import sys

# (metric suffix, label, unit, format, target text, check on (runnel, kafka) medians or None)
ROWS = [
    ("records_per_s", "throughput", "records/s", "{:,.0f}", "Runnel >= Kafka", lambda r, k: r >= k),
    ("txns_per_s", "transactions", "txn/s", "{:.1f}", "", None),
    ("mib_per_s", "payload", "MiB/s", "{:.2f}", "", None),
    ("commit_p50_ms", "commitTransaction() p50", "ms", "{:.2f}", "", None),
    ("commit_p90_ms", "commitTransaction() p90", "ms", "{:.2f}", "", None),
    ("commit_p99_ms", "commitTransaction() p99", "ms", "{:.2f}", "Runnel <= Kafka / 2", lambda r, k: r <= k / 2),
    ("commit_max_ms", "commitTransaction() max", "ms", "{:.1f}", "", None),
    ("commit_mean_ms", "commitTransaction() mean", "ms", "{:.2f}", "", None),
    ("txn_p50_ms", "whole transaction (begin to commit's return) p50", "ms", "{:.2f}", "", None),
    ("txn_p99_ms", "whole transaction p99", "ms", "{:.2f}", "", None),
    ("slow_commits", "commits >= 1 s", "", "{:.0f}", "", None),
    ("produce_retries", "produce responses with a retriable error (client WARN lines)", "", "{:.0f}", "", None),
    ("broker_cpu_s", "broker CPU (user+sys) over the timed section", "s", "{:.2f}", "", None),
    ("verify_ok", "read_committed read-back complete", "runs", "{:.0f}", "", None),
    ("load1", "1-min load average at the run's start", "", "{:.2f}", "", None),
]
SCENARIOS = [("produce", "transactional produce"), ("ctp", "consume-transform-produce (sendOffsetsToTransaction)")]
NAMES = {"runnel": "Runnel", "kafka": "Kafka 4.4.0"}


def table(path):
    values = {}
    for line in open(path):
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 4:
            continue
        broker, metric, rep, value = parts
        values.setdefault((broker, metric), []).append((int(rep), value))
    brokers = [b for b in ("runnel", "kafka") if any(k[0] == b for k in values)]
    both = brokers == ["runnel", "kafka"]
    head = "| Scenario | Measure | Unit | " + " | ".join(f"{NAMES[b]}: median (runs)" for b in brokers)
    if both:
        head += " | Runnel / Kafka | Target | Met"
    print(head + " |")
    print("|" + "---|" * (head.count("|") - 1))
    for sc, sc_label in SCENARIOS:
        for suffix, label, unit, fmt, target, check in ROWS:
            metric = f"{sc}_{suffix}"
            meds, cells = {}, []
            for b in brokers:
                runs = sorted(values.get((b, metric), []))
                if not runs:
                    cells.append("–")
                    continue
                nums, shown = [], []
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
            row = f"| {sc_label} | {label} | {unit} | " + " | ".join(cells)
            if both:
                r, k = meds.get("runnel"), meds.get("kafka")
                ratio = f"{r / k:.2f}" if r is not None and k not in (None, 0) else "–"
                met = ""
                if check is not None and r is not None and k is not None:
                    met = "yes" if check(r, k) else "**no**"
                row += f" | {ratio} | {target} | {met}"
            print(row + " |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: report.py RESULTS.tsv")
    table(sys.argv[1])
