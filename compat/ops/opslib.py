"""compat/ops/opslib.py -- what the ops suite's scripts share: PASS/FAIL lines and the count of
failures, bounded waits, creating a topic through a cluster that may still be starting, and the
frame of a run: `--runnel BIN --work DIR` (plus a script's own options), three Runnel processes
on 127.0.0.1 (compat/faults/cluster.py) with short session timeouts, started and registered, a
time bound, SIGTERM handling, the nodes stopped and the exit status (1 when a case failed).
"""
import argparse
import os
import shutil
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "faults"))
from cluster import Cluster, free_port  # noqa: E402,F401 -- free_port is for the scripts

# Fast failure detection, so that a stopped node leaves the ISR within seconds.
SETTINGS = {"broker.session.timeout.ms": 3000, "broker.heartbeat.interval.ms": 500,
            "replica.lag.time.max.ms": 4000, "offsets.topic.replication.factor": 3,
            "offsets.topic.num.partitions": 1}
failed = 0


def result(name, ok, why=""):
    """Prints `PASS name` or `FAIL name: why` (counted); returns ok."""
    global failed
    if ok:
        print(f"PASS {name}", flush=True)
    else:
        failed += 1
        print(f"FAIL {name}: {why}", flush=True)
    return ok


def wait_for(check, bound):
    """Polls `check` every 0.3 s for `bound` seconds (an exception counts as not yet)."""
    end = time.time() + bound
    while time.time() < end:
        try:
            if check():
                return True
        except Exception:  # noqa: BLE001 -- a node may be away: retried until the bound
            pass
        time.sleep(0.3)
    return False


def create_topic(admin, topic):
    """Creates `topic` (a NewTopic), retrying while the cluster is not ready yet."""
    for _ in range(60):
        try:
            admin.create_topics([topic])[topic.topic].result(15)
            return
        except Exception as e:  # noqa: BLE001
            if "ALREADY" in str(e):
                return
            time.sleep(1)


def main(run, bound, options=(), settings=None, node_settings=None):
    """Runs `run(cluster, args)` against three started, registered nodes within `bound` seconds.
    `options`: (flag, argparse keywords) pairs of the script's own."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runnel", required=True)
    parser.add_argument("--work", required=True)
    for flag, keywords in options:
        parser.add_argument(flag, **keywords)
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    c = Cluster(args.runnel, args.work, nodes=3, settings={**SETTINGS, **(settings or {})},
                use_namespaces=False, log=lambda _: None, node_settings=node_settings)
    alarm = threading.Timer(bound, lambda: os._exit(2))
    alarm.daemon = True
    alarm.start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(2))
    try:
        c.start_all()
        if wait_for(c.registered, 60):
            run(c, args)
        else:
            result("setup", False, "the nodes did not register")
    finally:
        c.destroy()
    print(f"{'FAILED' if failed else 'ok'}: {failed} failed", flush=True)
    sys.exit(1 if failed else 0)
