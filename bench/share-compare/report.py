#!/usr/bin/env python3
"""bench/share-compare/report.py -- the summary tables of bench/share-compare.sh.

What this file owns: the Markdown made from RESULTS.tsv (rows: broker, metric, repetition,
value; metrics are "c<N>_<measure>" for N share consumers; "n/a ..." for a failed run):

  1. the headline: per consumer count, the median records/s of each broker, Runnel / Kafka and
     the target (Runnel records/s >= Kafka's at every consumer count);
  2. every measure per consumer count: medians of the repetitions, every run in order,
     Runnel / Kafka;
  3. the per-consumer delivery counts of every run.

  report.py RESULTS.tsv
"""
import re
import statistics
import sys

# (measure, label, unit, format, target text, check on (runnel, kafka) medians or None)
ROWS = [
    ("records_per_s", "throughput (distinct records / clock, join included)", "records/s", "{:,.0f}",
     "Runnel >= Kafka", lambda r, k: r >= k),
    ("mib_per_s", "payload", "MiB/s", "{:.2f}", "", None),
    ("seconds", "clock: start of polling to the last new record", "s", "{:.2f}", "", None),
    ("first_record_ms", "start of polling to the first record (join + first fetch)", "ms", "{:,.0f}", "", None),
    ("drain_records_per_s", "rate after the first record", "records/s", "{:,.0f}", "", None),
    ("max_gap_ms", "longest time without a new record (after the first)", "ms", "{:,.0f}", "", None),
    ("close_ms", "commitSync() (last poll's acknowledgements) + close() of all consumers", "ms", "{:,.0f}", "", None),
    ("deliveries", "deliveries (records returned by poll, all consumers)", "", "{:,.0f}", "", None),
    ("duplicates", "duplicates (deliveries - distinct offsets)", "", "{:,.0f}", "", None),
    ("redeliveries", "records delivered with deliveryCount > 1", "", "{:,.0f}", "", None),
    ("acked", "acknowledgements confirmed (commit callbacks)", "records", "{:,.0f}", "", None),
    ("ack_errors", "acknowledgements refused", "records", "{:,.0f}", "", None),
    ("commit_errors", "partitions whose final commitSync() failed", "", "{:.0f}", "", None),
    ("spso", "share-partition start offset after close", "", "{:,.0f}", "", None),
    ("lag", "share-partition lag after close (0: all acknowledged)", "records", "{:,.0f}", "", None),
    ("broker_cpu_s", "broker CPU (user+sys) over the clock", "s", "{:.2f}", "", None),
    ("preload_s", "preload (acks=all producer, untimed)", "s", "{:.2f}", "", None),
    ("client_warns", "client WARN/ERROR log lines", "", "{:.0f}", "", None),
    ("verify_ok", "complete runs (all seen, all acknowledged, no error)", "", None, "", None),
    ("share_version", "finalized share.version", "", "{:.0f}", "", None),
    ("load1", "1-min load average at the run's start", "", "{:.2f}", "", None),
]
NAMES = {"runnel": "Runnel", "kafka": "Kafka 4.4.0"}


def load(path):
    values = {}
    for line in open(path):
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 4:
            continue
        broker, metric, rep, value = parts
        values.setdefault((broker, metric), []).append((int(rep), value))
    return values


def cell(runs, fmt):
    """(median or None, markdown cell) of one broker's runs of one metric."""
    if not runs:
        return None, "–"
    if fmt is None:  # a 0/1 flag: how many of the runs
        ok = sum(1 for _, v in runs if v == "1")
        return None, f"{ok} of {len(runs)}"
    nums, shown = [], []
    for _, v in runs:
        try:
            nums.append(float(v))
            shown.append(fmt.format(float(v)))
        except ValueError:
            shown.append(v)
    if not nums:
        return None, f"n/a ({', '.join(shown)})"
    med = statistics.median(nums)
    return med, f"**{fmt.format(med)}** ({', '.join(shown)})"


def report(path):
    values = load(path)
    brokers = [b for b in ("runnel", "kafka") if any(k[0] == b for k in values)]
    both = brokers == ["runnel", "kafka"]
    counts = sorted({int(m.group(1)) for (_, metric) in values for m in [re.match(r"c(\d+)_", metric)] if m})

    print("### Records/s consumed and acknowledged, one partition (median of the runs)")
    print()
    print("Throughput is distinct records / the clock, the group join included (the issue's measure);")
    print("the rate after the first record leaves the join and first fetch out.")
    print()
    head = "| Share consumers | " + " | ".join(f"{NAMES[b]} records/s" for b in brokers)
    if both:
        head += " | Runnel / Kafka | Target Runnel >= Kafka"
    head += " | " + " | ".join(f"{NAMES[b]} rate after the first record" for b in brokers)
    if both:
        head += " | Runnel / Kafka"
    print(head + " |")
    print("|" + "---|" * head.count("|"))
    for n in counts:
        row = f"| {n}"
        for measure, target in (("records_per_s", True), ("drain_records_per_s", False)):
            meds, cells = {}, []
            for b in brokers:
                med, text = cell(sorted(values.get((b, f"c{n}_{measure}"), [])), "{:,.0f}")
                if med is not None:
                    meds[b] = med
                cells.append(text)
            row += " | " + " | ".join(cells)
            if both:
                r, k = meds.get("runnel"), meds.get("kafka")
                row += " | " + (f"{r / k:.2f}" if r is not None and k else "–")
                if target:
                    row += " | " + (("yes" if r >= k else "**no**") if r is not None and k is not None else "–")
        print(row + " |")
    print()

    print("### Every measure: median (every run, in order)")
    print()
    head = "| Consumers | Measure | Unit | " + " | ".join(f"{NAMES[b]}: median (runs)" for b in brokers)
    if both:
        head += " | Runnel / Kafka | Target | Met"
    print(head + " |")
    print("|" + "---|" * head.count("|"))
    for n in counts:
        for measure, label, unit, fmt, target, check in ROWS:
            metric = f"c{n}_{measure}"
            meds, cells = {}, []
            for b in brokers:
                med, text = cell(sorted(values.get((b, metric), [])), fmt)
                if med is not None:
                    meds[b] = med
                cells.append(text)
            if all(c == "–" for c in cells):
                continue
            row = f"| {n} | {label} | {unit} | " + " | ".join(cells)
            if both:
                r, k = meds.get("runnel"), meds.get("kafka")
                ratio = f"{r / k:.2f}" if r is not None and k not in (None, 0) else "–"
                if measure in ("share_version", "load1"):
                    ratio = ""
                met = ""
                if check is not None and r is not None and k is not None:
                    met = "yes" if check(r, k) else "**no**"
                row += f" | {ratio} | {target} | {met}"
            print(row + " |")
    print()

    print("### Deliveries per consumer, every run")
    print()
    print("| Broker | Consumers | Run | Deliveries per consumer |")
    print("|---|---|---|---|")
    for n in counts:
        for b in brokers:
            for rep, v in sorted(values.get((b, f"c{n}_per_consumer"), [])):
                print(f"| {NAMES[b]} | {n} | {rep} | {v.replace(',', ', ')} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: report.py RESULTS.tsv")
    report(sys.argv[1])
