#!/usr/bin/env python3
"""bench/offsets-load.py -- a group's many commits against a compacted __consumer_offsets.

What this script owns: the procedure. It starts `runnel serve` (release binary) on a free
127.0.0.1 port with one __consumer_offsets partition, OFFSETS_SEGMENT_BYTES segments and a
1 s cleaner backoff; one librdkafka consumer (confluent-kafka, the compat venv) commits COMMITS
offsets for group `g` on topic `t` partition 0, asynchronously, in order; it then waits until
the cleaner has compacted __consumer_offsets (a read-uncommitted scan of the partition from the
start counts the records left), stops the broker with SIGTERM, starts it again on the same log
dir and times how long until OffsetFetch answers the last committed offset. Prints the
figures; docs/BENCHMARKS.md records them.

Usage (by hand):  ~/.cache/runnel/py-compat/bin/python bench/offsets-load.py [--commits N]
Loopback only; the broker is stopped at exit, the temp dir removed.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(binary, data, port, segment_bytes, log):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNEL_")}
    args = [binary, "serve",
            "--override", f"listeners=PLAINTEXT://127.0.0.1:{port}",
            "--override", f"log.dirs={data}",
            "--override", "offsets.topic.num.partitions=1",
            "--override", f"offsets.topic.segment.bytes={segment_bytes}",
            "--override", "log.cleaner.backoff.ms=1000"]
    started = time.monotonic()
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, time.monotonic() - started
        except OSError:
            if proc.poll() is not None:
                sys.exit(f"runnel exited with {proc.returncode}")
            time.sleep(0.02)
    proc.kill()
    sys.exit("runnel did not listen")


def stop_broker(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return -9


def consumer(bootstrap, group="g"):
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                     "enable.auto.commit": False, "enable.auto.offset.store": False})


def count_offsets_records(bootstrap):
    """Records left in __consumer_offsets partition 0 (read from the start)."""
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": "offsets-reader",
                       "enable.auto.commit": False, "auto.offset.reset": "earliest",
                       "check.crcs": True})
    low, high = reader.get_watermark_offsets(TopicPartition("__consumer_offsets", 0), timeout=10)
    reader.assign([TopicPartition("__consumer_offsets", 0, low)])
    count, position, deadline = 0, low, time.monotonic() + 120
    while position < high and time.monotonic() < deadline:
        for message in reader.consume(10000, timeout=1):
            if message.error():
                continue
            count += 1
            position = message.offset() + 1
    reader.close()
    return count, low, high


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=1_000_000)
    parser.add_argument("--segment-bytes", type=int, default=10 << 20)
    parser.add_argument("--runnel", default=os.path.join(REPO, "target/release/runnel"))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="runnel-offsets-load.")
    data, port = os.path.join(work, "data"), free_port()
    bootstrap = f"127.0.0.1:{port}"
    log = open(os.path.join(work, "broker.log"), "ab")
    proc = None
    try:
        proc, _ = start_broker(args.runnel, data, port, args.segment_bytes, log)
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic("t", 1, 1)])["t"].result(timeout=30)
        del admin  # no client left to log the broker's restart as a failure
        done = {"n": 0, "errors": 0}

        def on_commit(error, _partitions):
            done["n"] += 1
            if error is not None:
                done["errors"] += 1

        committer = Consumer({"bootstrap.servers": bootstrap, "group.id": "g",
                              "enable.auto.commit": False, "on_commit": on_commit})
        started = time.monotonic()
        for offset in range(1, args.commits + 1):
            committer.commit(offsets=[TopicPartition("t", 0, offset)], asynchronous=True)
            if offset % 1000 == 0:
                committer.poll(0)
                while offset - done["n"] > 20_000:
                    committer.poll(0.01)
        deadline = time.monotonic() + 600
        while done["n"] < args.commits and time.monotonic() < deadline:
            committer.poll(0.1)
        commit_secs = time.monotonic() - started
        committed = committer.committed([TopicPartition("t", 0)], timeout=30)[0].offset
        committer.close()
        print(f"commits: {args.commits} in {commit_secs:.1f} s "
              f"({args.commits / commit_secs:,.0f}/s), {done['errors']} errors, "
              f"last committed {committed}")
        if committed != args.commits:
            sys.exit(f"FAIL: committed offset {committed}, expected {args.commits}")

        # The cleaner compacts closed segments; the active one keeps its recent commits.
        before = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            left, low, high = count_offsets_records(bootstrap)
            before = before or high - low
            if left < args.commits // 10:
                break
            time.sleep(2)
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in
                   os.walk(os.path.join(data, "__consumer_offsets-0")) for f in fs if f.endswith(".log"))
        print(f"__consumer_offsets-0: {left} records left of {high} written "
              f"({100 * left / max(high, 1):.2f}%), {size / 1e6:.1f} MB of segments")

        rc = stop_broker(proc)
        proc = None
        print(f"broker stopped with status {rc}")
        proc, listen_secs = start_broker(args.runnel, data, port, args.segment_bytes, log)
        restarted = time.monotonic() - listen_secs
        reader = consumer(bootstrap)
        answer = None
        while time.monotonic() - restarted < 60:
            try:
                answer = reader.committed([TopicPartition("t", 0)], timeout=5)[0].offset
                if answer == args.commits:
                    break
            except Exception:  # COORDINATOR_LOAD_IN_PROGRESS and friends: retried
                pass
            time.sleep(0.01)
        loaded = time.monotonic() - restarted
        reader.close()
        print(f"restart: listening after {listen_secs:.2f} s; the group's offset {answer} "
              f"answered {loaded:.2f} s after the process started")
        if answer != args.commits:
            sys.exit("FAIL: the committed offset was not served after the restart")
    finally:
        if proc is not None:
            stop_broker(proc)
        log.close()
        with open(os.path.join(work, "broker.log"), "rb") as f:
            lines = [l for l in f.read().decode(errors="replace").splitlines()
                     if "loaded group coordinator" in l or "log cleaned" in l]
        for line in lines[-4:]:
            print("broker:", line[:300])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
