"""compat/faults/campaign.py -- a long fault campaign, run by hand in the background.

Runs harness.py again and again (seeds START, START+1, ...; each run `--rounds R --txn` over the
default rotation, or `--faults` as given), until every fault type has run --target cycles in
all, the acknowledged writes checked reach --writes, or --hours have passed. Each finished run
appends one JSON line to WORK/campaign.jsonl: seed, exit status, seconds, cycles per fault type,
acknowledged writes and the anomaly counts the harness reported; a run's full output stays in
WORK/run-SEED.txt and its work folder is removed when it passed (kept when it failed, for the
report). Started again with the same WORK it goes on from the last seed, so a campaign can span
sessions. Prints the totals at the end (and with --report alone, without running anything).

    sudo $PY compat/faults/campaign.py --runnel BIN --work /var/tmp/campaign --hours 6
    sudo $PY compat/faults/campaign.py --work /var/tmp/campaign --report

The harness's own bounds hold every run; this loop adds only its --hours budget (checked
between runs) and stops at the first SIGINT/SIGTERM after killing the running harness.
"""
import argparse
import ast
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SUMMARY = re.compile(r"^INFO cluster: cycles=(\d+) faults=(\{[^}]*\}) .*?acked=(\d+)(.*)$", re.M)
ANOMALY = re.compile(r"([a-z-]+)=(\d+)")
# The checker's anomalies on the summary line; the group's and the transactions' show in the
# run's exit status (and its output).
ANOMALIES = ("lost-write", "unseen", "duplicate", "inconsistent-offsets", "non-monotonic")


def parse(output):
    """(cycles per fault type, acknowledged writes, anomalies) from a harness run's output."""
    m = SUMMARY.search(output)
    if not m:
        return {}, 0, {}
    per_type = {}
    for name, count in ast.literal_eval(m.group(2)).items():
        base = name.split(":")[0]
        per_type[base] = per_type.get(base, 0) + count
    anomalies = {k: int(v) for k, v in ANOMALY.findall(m.group(4)) if k in ANOMALIES}
    return per_type, int(m.group(3)), anomalies


def load(path):
    runs = []
    if os.path.exists(path):
        with open(path) as f:
            runs = [json.loads(line) for line in f if line.strip()]
    return runs


def totals(runs):
    cycles, writes, anomalies, failed = {}, 0, {}, []
    for r in runs:
        for k, v in r["cycles"].items():
            cycles[k] = cycles.get(k, 0) + v
        writes += r["acked"]
        for k, v in r["anomalies"].items():
            anomalies[k] = anomalies.get(k, 0) + v
        if r["status"] != 0:
            failed.append(r["seed"])
    return cycles, writes, anomalies, failed


def report(runs):
    cycles, writes, anomalies, failed = totals(runs)
    hours = sum(r["seconds"] for r in runs) / 3600
    print(f"INFO campaign: {len(runs)} runs, {hours:.1f} h, {writes:,} acknowledged writes checked")
    print("INFO cycles per fault type: " + ", ".join(f"{k} {v}" for k, v in
                                                      sorted(cycles.items(), key=lambda kv: int(kv[0][1:]))))
    print("INFO anomalies: " + (", ".join(f"{k} {v}" for k, v in sorted(anomalies.items())) or "none reported"))
    print(f"INFO failed runs (seeds): {failed or 'none'}")
    return cycles, writes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runnel")
    parser.add_argument("--work", required=True)
    parser.add_argument("--hours", type=float, default=4.0)
    parser.add_argument("--target", type=int, default=500, help="cycles per fault type")
    parser.add_argument("--writes", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--faults")
    parser.add_argument("--start-seed", type=int, default=1000)
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    path = os.path.join(args.work, "campaign.jsonl")
    runs = load(path)
    if args.report:
        report(runs)
        return 0
    if not args.runnel:
        parser.error("--runnel is required unless --report")
    running = {}

    def stop(*_):
        p = running.get("p")
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=300)
        report(load(path))
        sys.exit(1)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    end = time.time() + args.hours * 3600
    seed = max([r["seed"] for r in runs], default=args.start_seed - 1) + 1
    while time.time() < end:
        cycles, writes, _, _ = totals(runs)
        if cycles and min(cycles.values()) >= args.target and writes >= args.writes:
            break
        work = os.path.join(args.work, f"run-{seed}")
        command = [sys.executable, os.path.join(HERE, "harness.py"), "--runnel", args.runnel,
                   "--work", work, "--txn", "--seed", str(seed)]
        command += (["--faults", args.faults, "--cycles", str(args.rounds * len(args.faults.split(",")))]
                    if args.faults else ["--rounds", str(args.rounds)])
        started = time.time()
        with open(work + ".txt", "w") as out:
            running["p"] = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
            status = running["p"].wait()
        with open(work + ".txt", errors="replace") as f:
            per_type, acked, anomalies = parse(f.read())
        run = {"seed": seed, "status": status, "seconds": round(time.time() - started),
               "cycles": per_type, "acked": acked, "anomalies": anomalies}
        with open(path, "a") as f:
            f.write(json.dumps(run) + "\n")
        runs.append(run)
        print(f"INFO run {seed}: exit {status}, {sum(per_type.values())} cycles, {acked:,} writes, "
              f"{run['seconds']} s", flush=True)
        if status == 0:
            shutil.rmtree(work, ignore_errors=True)
        seed += 1
    report(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
