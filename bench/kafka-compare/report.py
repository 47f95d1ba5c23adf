#!/usr/bin/env python3
"""bench/kafka-compare/report.py -- the comparison table of bench/kafka-compare.sh.

Owns: turning the raw measurements (results.tsv, one line per repetition:
`broker<TAB>metric<TAB>value` where value is a number or `NA:reason`) into a Markdown table with
the median per broker, the number of repetitions behind it, and the ratio Runnel / Kafka.
A measurement with no numeric repetition prints `n/a (reason)`. EndToEndLatency's percentiles
are whole milliseconds (truncated), so a median of 0 prints as `< 1`.

Usage: report.py results.tsv
"""

import collections
import statistics
import sys

# metric key -> (label, unit, which direction is better)
METRICS = [
    ("produce_p1_acks1", "produce, 1 partition, acks=1", "MB/s", "higher"),
    ("produce_p1_acksall", "produce, 1 partition, acks=all", "MB/s", "higher"),
    ("produce_p8_acks1", "produce, 8 partitions, acks=1", "MB/s", "higher"),
    ("produce_p8_acksall", "produce, 8 partitions, acks=all", "MB/s", "higher"),
    ("consume", "consume (MB.sec, incl. group join)", "MB/s", "higher"),
    ("consume_fetch", "consume (fetch.MB.sec, excl. group join)", "MB/s", "higher"),
    ("e2e_p50", "end-to-end latency p50", "ms", "lower"),
    ("e2e_p99", "end-to-end latency p99", "ms", "lower"),
    ("e2e_avg", "end-to-end latency avg", "ms", "lower"),
    ("rss_after", "broker RSS after the run (VmRSS)", "MiB", "lower"),
    ("rss_peak", "broker peak RSS (VmHWM)", "MiB", "lower"),
    ("cpu_seconds", "broker CPU (user+sys) over its whole life", "s", "lower"),
    ("startup", "start to first served ApiVersions", "ms", "lower"),
]


def fmt(x):
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def main():
    values = collections.defaultdict(list)
    reasons = collections.defaultdict(list)
    for line in open(sys.argv[1]):
        parts = line.rstrip("\n").split("\t", 2)
        if len(parts) != 3:
            continue
        broker, metric, value = parts
        if value.startswith("NA:"):
            reasons[(broker, metric)].append(value[3:])
        else:
            try:
                values[(broker, metric)].append(float(value))
            except ValueError:
                reasons[(broker, metric)].append(f"unparsable {value!r}")

    def cell(broker, metric):
        got = values.get((broker, metric))
        if got:
            med = statistics.median(got)
            fails = len(reasons.get((broker, metric), []))
            note = f" ({len(got)} runs" + (f", {fails} failed" if fails else "") + ")"
            return med, fmt(med) + note
        why = reasons.get((broker, metric))
        if why:
            return None, f"n/a ({why[-1]})"
        return None, "not run"

    print("| Measure | Unit | Runnel (median) | Kafka 4.4.0 (median) | Runnel / Kafka | Better |")
    print("|---|---|---|---|---|---|")
    for key, label, unit, better in METRICS:
        r, rtext = cell("runnel", key)
        k, ktext = cell("kafka", key)
        if key in ("e2e_p50", "e2e_p99") and (r == 0 or k == 0):
            # EndToEndLatency truncates each latency to whole milliseconds: 0 means < 1 ms.
            rtext = rtext.replace("0.00 (", "< 1 (", 1)
            ktext = ktext.replace("0.00 (", "< 1 (", 1)
            ratio = "n/a (< 1 ms)" if r is not None and k is not None else "n/a"
        else:
            ratio = f"{r / k:.2f}" if r is not None and k else "n/a"
        print(f"| {label} | {unit} | {rtext} | {ktext} | {ratio} | {better} |")


if __name__ == "__main__":
    main()
