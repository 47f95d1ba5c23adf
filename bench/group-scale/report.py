#!/usr/bin/env python3
"""bench/group-scale/report.py -- the table of bench/group-scale.sh.

Owns: turning results.tsv (one line per repetition: `broker<TAB>metric<TAB>value`, value a
number of milliseconds or `NA:reason`) into a Markdown table: per broker the median and every
repetition's value, and the ratio of the medians Runnel / Kafka (lower is better for Runnel).

Usage: report.py results.tsv
"""

import collections
import statistics
import sys

METRICS = [
    ("join_classic", "100 members join, classic (delay 0)"),
    ("leave_classic", "1 member leaves, classic (delay 0)"),
    ("join_consumer", "100 members join, consumer / KIP-848"),
    ("leave_consumer", "1 member leaves, consumer / KIP-848"),
    ("join_classic_default", "100 members join, classic, default delay 3000 ms"),
    ("leave_classic_default", "1 member leaves, classic, default delay 3000 ms"),
]


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
            values[(broker, metric)].append(None)
        else:
            values[(broker, metric)].append(float(value))

    def cell(broker, metric):
        got = values.get((broker, metric), [])
        nums = [v for v in got if v is not None]
        each = ", ".join("n/a" if v is None else f"{v / 1000:.2f}" for v in got)
        if nums:
            med = statistics.median(nums)
            return med, f"**{med / 1000:.2f}** ({each})"
        why = reasons.get((broker, metric))
        if why:
            return None, f"n/a ({why[-1]})"
        return None, "not run"

    print("| Measure (seconds to stable) | Runnel: median (each run) | Kafka 4.4.0: median (each run) | Runnel / Kafka |")
    print("|---|---|---|---|")
    for key, label in METRICS:
        r, rtext = cell("runnel", key)
        k, ktext = cell("kafka", key)
        if rtext == "not run" and ktext == "not run":
            continue
        ratio = f"{r / k:.2f}" if r is not None and k else "n/a"
        print(f"| {label} | {rtext} | {ktext} | {ratio} |")


if __name__ == "__main__":
    main()
