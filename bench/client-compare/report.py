#!/usr/bin/env python3
"""bench/client-compare/report.py -- the comparison table of bench/client-compare.sh.

Owns: turning results.tsv (one line per run: `broker<TAB>metric<TAB>rep<TAB>value`, value a
number or `NA:reason`) into a Markdown table: per broker the median and every run, Runnel / Kafka
(ratio of the medians), and the target with whether Runnel met it in this run. Derived rows:
many-partition / 1-partition throughput per broker (median of the per-repetition ratios).

Usage: report.py results.tsv [MANY_PARTITIONS [CONNECTIONS]]
"""

import collections
import statistics
import sys

MANY = sys.argv[2] if len(sys.argv) > 2 else "1000"
CONNS = f"{int(sys.argv[3]):,}" if len(sys.argv) > 3 else "10,000"

# key, label, unit, target: (kind, bound) where kind is
#   "ratio>=" / "ratio<=" (Runnel / Kafka), "abs<=" / "abs>=" (Runnel's median), or None
METRICS = [
    ("produce_p1", "produce, 1 partition", "MiB/s", ("ratio>=", 2.5)),
    ("produce_p8", "produce, 8 partitions", "MiB/s", ("ratio>=", 2.5)),
    ("produce_many", f"produce, {MANY} partitions", "MiB/s", None),
    ("many_vs_p1", f"{MANY} partitions / 1 partition (per-rep ratio)", "x", ("abs>=", 0.8)),
    ("consume", "consume, 1 partition from offset 0", "MiB/s", ("ratio>=", 2.0)),
    ("cpu_gib_p1", "broker CPU per GiB written, 1 partition", "s/GiB", ("ratio<=", 0.2)),
    ("cpu_gib_p8", "broker CPU per GiB written, 8 partitions", "s/GiB", ("ratio<=", 0.2)),
    ("cpu_gib_many", f"broker CPU per GiB written, {MANY} partitions", "s/GiB", None),
    ("lat_p50", "ack latency p50, 2,000/s, linger 0", "µs", ("abs<=", 100)),
    ("lat_p99", "ack latency p99", "µs", ("abs<=", 500)),
    ("lat_p999", "ack latency p99.9", "µs", ("abs<=", 2000)),
    ("hog_p50", "ack latency p50, with 2 busy loops", "µs", None),
    ("hog_p99", "ack latency p99, with 2 busy loops", "µs", ("abs<=", 5000)),
    ("hog_p999", "ack latency p99.9, with 2 busy loops", "µs", None),
    ("conn_rss", f"VmRSS added by {CONNS} idle connections", "MiB", ("abs<=", 64)),
    ("idle_rss", "VmRSS of the idle broker (before them)", "MiB", None),
    ("rss_after", "VmRSS after the workloads", "MiB", None),
    # where the CPU went: % of one core over the measured interval
    ("broker_cpu_p1", "broker CPU during produce, 1 partition", "% core", None),
    ("client_cpu_p1", "client CPU during produce, 1 partition", "% core", None),
    ("broker_cpu_p8", "broker CPU during produce, 8 partitions", "% core", None),
    ("client_cpu_p8", "client CPU during produce, 8 partitions", "% core", None),
    ("broker_cpu_many", f"broker CPU during produce, {MANY} partitions", "% core", None),
    ("client_cpu_many", f"client CPU during produce, {MANY} partitions", "% core", None),
    ("broker_cpu_consume", "broker CPU during consume", "% core", None),
    ("client_cpu_consume", "client CPU during consume", "% core", None),
    ("lat_broker_cpu", "broker CPU during the latency run", "% core", None),
    ("lat_client_cpu", "client CPU during the latency run", "% core", None),
    ("hog_broker_cpu", "broker CPU during the latency run with busy loops", "% core", None),
    ("hog_client_cpu", "client CPU during the latency run with busy loops", "% core", None),
    ("lat_machine_busy", "both cores busy (all processes) during the latency run", "% machine", None),
    ("lat_steal", "both cores stolen by the hypervisor during the latency run", "% machine", None),
    ("hog_machine_busy", "both cores busy during the latency run with busy loops", "% machine", None),
    ("hog_steal", "both cores stolen during the latency run with busy loops", "% machine", None),
    ("many_first_touch", f"first write to all {MANY} partitions (2 records each, unmeasured above)", "s", None),
]


def fmt(x):
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def main():
    runs = collections.defaultdict(dict)  # (broker, metric) -> {rep: value}
    reasons = collections.defaultdict(list)
    for line in open(sys.argv[1]):
        parts = line.rstrip("\n").split("\t", 3)
        if len(parts) != 4:
            continue
        broker, metric, rep, value = parts
        if value.startswith("NA:"):
            reasons[(broker, metric)].append(value[3:])
            continue
        try:
            runs[(broker, metric)][rep] = float(value)
        except ValueError:
            reasons[(broker, metric)].append(f"unparsable {value!r}")
    for broker in ("runnel", "kafka"):
        many, one = runs.get((broker, "produce_many"), {}), runs.get((broker, "produce_p1"), {})
        for rep in many:
            if rep in one and one[rep]:
                runs[(broker, "many_vs_p1")][rep] = many[rep] / one[rep]

    def cell(broker, metric):
        got = runs.get((broker, metric))
        if got:
            vals = [got[r] for r in sorted(got, key=int)]
            med = statistics.median(vals)
            fails = len(reasons.get((broker, metric), []))
            each = ", ".join(fmt(v) for v in vals) if len(vals) > 1 else ""
            note = f" ({each}" + (f"; {fails} failed" if fails else "") + ")" if each or fails else ""
            return med, f"**{fmt(med)}**" + note
        why = reasons.get((broker, metric))
        if why:
            return None, f"n/a ({why[-1][:100]})"
        return None, "not run"

    print("| Measure | Unit | Runnel: median (runs) | Kafka 4.4.0: median (runs) | Runnel / Kafka | Target | Met |")
    print("|---|---|---|---|---|---|---|")
    for key, label, unit, target in METRICS:
        r, rtext = cell("runnel", key)
        k, ktext = cell("kafka", key)
        if r is None and k is None and rtext == "not run" and ktext == "not run":
            continue
        ratio = r / k if r is not None and k else None
        rtxt = f"{ratio:.2f}" if ratio is not None else "–"
        ttext, met = "–", ""
        if target:
            kind, bound = target
            if kind == "ratio>=":
                ttext, ok = f"Runnel / Kafka >= {bound}", ratio is not None and ratio >= bound
            elif kind == "ratio<=":
                ttext, ok = f"Runnel / Kafka <= {bound}", ratio is not None and ratio <= bound
            elif kind == "abs<=":
                ttext, ok = f"Runnel <= {bound:,} {unit}", r is not None and r <= bound
            else:
                ttext, ok = f"Runnel >= {bound}", r is not None and r >= bound
            met = "yes" if ok else ("no" if r is not None else "n/a")
        print(f"| {label} | {unit} | {rtext} | {ktext} | {rtxt} | {ttext} | {met} |")


if __name__ == "__main__":
    main()
