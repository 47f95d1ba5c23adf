#!/usr/bin/env python3
"""bench/tls-compare/report.py -- the tables of bench/tls-compare.sh.

Owns: turning results.tsv (one line per run: `broker<TAB>protocol<TAB>metric<TAB>rep<TAB>value`,
value a number or `NA:reason`) into Markdown:
  1. per protocol x measure: Runnel and Kafka medians (MB/s), Runnel / Kafka (ratio of the
     medians), and each broker's figure as % of its own PLAINTEXT median;
  2. the CPU seconds of the broker and of the client tool during each run (medians), and every
     run's figure;
  3. the targets: Runnel >= 2x Kafka over SSL and SASL_SSL; Runnel's TLS >= 70% of its own
     PLAINTEXT (met / missed).
A cell with no numeric run prints `n/a (reason)`.

Usage: report.py results.tsv
"""

import collections
import statistics
import sys

PROTOCOLS = ["PLAINTEXT", "SSL", "SASL_SSL"]
MEASURES = [
    ("produce", "produce (ProducerPerformance MB/sec)"),
    ("consume", "consume (ConsumerPerformance MB.sec, incl. group join)"),
    ("consume_fetch", "consume, fetch only (fetch.MB.sec)"),
]
CPU = [("produce_cpu", "produce"), ("consume_cpu", "consume")]


def fmt(x):
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def main():
    values = collections.defaultdict(list)  # (broker, proto, metric) -> [(rep, value)]
    reasons = collections.defaultdict(list)
    for line in open(sys.argv[1]):
        parts = line.rstrip("\n").split("\t", 4)
        if len(parts) != 5:
            continue
        broker, proto, metric, rep, value = parts
        key = (broker, proto, metric)
        if value.startswith("NA:"):
            reasons[key].append(value[3:])
            continue
        try:
            values[key].append((int(rep), float(value)))
        except ValueError:
            reasons[key].append(f"unparsable {value!r}")

    def med(broker, proto, metric):
        got = values.get((broker, proto, metric))
        return statistics.median(v for _, v in got) if got else None

    def cell(broker, proto, metric):
        m = med(broker, proto, metric)
        if m is not None:
            n = len(values[(broker, proto, metric)])
            fails = len(reasons.get((broker, proto, metric), []))
            return fmt(m) + f" ({n} runs" + (f", {fails} failed" if fails else "") + ")"
        why = reasons.get((broker, proto, metric)) or reasons.get((broker, proto, "produce"))
        return f"n/a ({why[-1]})" if why else "not run"

    def ratio(a, b, pct=False):
        if a is None or not b:
            return "n/a"
        return f"{100 * a / b:.0f}%" if pct else f"{a / b:.2f}"

    print("| Protocol | Measure | Runnel MB/s (median) | Kafka 4.4.0 MB/s (median) | Runnel / Kafka "
          "| Runnel, % of its PLAINTEXT | Kafka, % of its PLAINTEXT |")
    print("|---|---|---|---|---|---|---|")
    for metric, label in MEASURES:
        for proto in PROTOCOLS:
            r, k = med("runnel", proto, metric), med("kafka", proto, metric)
            if r is None and k is None and not reasons.get(("runnel", proto, metric)):
                continue
            rp = ratio(r, med("runnel", "PLAINTEXT", metric), pct=True) if proto != "PLAINTEXT" else "100%"
            kp = ratio(k, med("kafka", "PLAINTEXT", metric), pct=True) if proto != "PLAINTEXT" else "100%"
            print(f"| {proto} | {label} | {cell('runnel', proto, metric)} | {cell('kafka', proto, metric)} "
                  f"| {ratio(r, k)} | {rp} | {kp} |")

    print()
    print("CPU seconds during one tool run (median; the same bytes in every run): the broker "
          "process (/proc/PID/stat) and the client tool's JVM (the same client flags for both):")
    print()
    print("| Protocol | Run | Runnel broker | Kafka broker | Runnel / Kafka (broker) "
          "| client vs Runnel | client vs Kafka |")
    print("|---|---|---|---|---|---|---|")
    for metric, label in CPU:
        for proto in PROTOCOLS:
            r, k = med("runnel", proto, metric), med("kafka", proto, metric)
            rc, kc = med("runnel", proto, metric.replace("_cpu", "_client_cpu")), med(
                "kafka", proto, metric.replace("_cpu", "_client_cpu"))
            if r is None and k is None:
                continue
            f = lambda x: fmt(x) if x is not None else "n/a"
            print(f"| {proto} | {label} | {f(r)} | {f(k)} | {ratio(r, k)} | {f(rc)} | {f(kc)} |")

    print()
    print("Every run (MB/s, in repetition order; Runnel / Kafka):")
    print()
    print("| Protocol | Measure | Runnel | Kafka |")
    print("|---|---|---|---|")
    for metric, _ in MEASURES:
        for proto in PROTOCOLS:
            cols = []
            for broker in ("runnel", "kafka"):
                got = sorted(values.get((broker, proto, metric), []))
                text = ", ".join(fmt(v) for _, v in got) or "-"
                if reasons.get((broker, proto, metric)):
                    text += f" ({len(reasons[(broker, proto, metric)])} failed)"
                cols.append(text)
            if cols != ["-", "-"]:
                print(f"| {proto} | {metric} | {cols[0]} | {cols[1]} |")
    loads = sorted(values.get(("machine", "-", "load1"), []))
    if loads:
        print()
        print("1-minute load average at the start of each repetition: "
              + ", ".join(f"{v:.2f}" for _, v in loads))
    rss = [(b, med(b, "-", "rss_peak_mib")) for b in ("runnel", "kafka")]
    if any(v is not None for _, v in rss):
        print("Broker peak RSS (VmHWM) at the end: "
              + ", ".join(f"{b} {v:.0f} MiB" for b, v in rss if v is not None))

    print()
    print("Targets:")
    print()
    print("| Target | Measure | Figure | Met |")
    print("|---|---|---|---|")
    for proto in ("SSL", "SASL_SSL"):
        for metric, _ in MEASURES:
            r, k = med("runnel", proto, metric), med("kafka", proto, metric)
            got = "n/a" if r is None or not k else ("yes" if r / k >= 2 else "no")
            print(f"| Runnel >= 2x Kafka over {proto} | {metric} | {ratio(r, k)}x | {got} |")
    for proto in ("SSL", "SASL_SSL"):
        for metric, _ in MEASURES:
            r, p = med("runnel", proto, metric), med("runnel", "PLAINTEXT", metric)
            got = "n/a" if r is None or not p else ("yes" if r / p >= 0.7 else "no")
            print(f"| Runnel {proto} >= 70% of its PLAINTEXT | {metric} | {ratio(r, p, pct=True)} | {got} |")


if __name__ == "__main__":
    main()
