"""bench/reassign_measure.py -- one cluster's part of bench/reassign-compare.sh: how long moving
a partition holding MB megabytes takes, and a steady producer's latency while it moves, without
and with a replication throttle.

    python reassign_measure.py --bootstrap B --tools compat/kafka-tools.sh --name N --mb 512 \
        --throttle 52428800 --out DIR

Steps: topic `moving-N` with one partition on brokers [1, 2] (min.insync.replicas 1), filled
with MB megabytes of 1 KiB records by Kafka's ProducerPerformance (acks=1); then, twice, a
steady producer (librdkafka, acks=all, idempotent, 2,000 records/s of 1 KiB) runs while
kafka-reassign-partitions moves the partition, the first time to [2, 3] without a throttle, the
second time back to [1, 2] with `--throttle`. The move is timed from the tool's start to the
moment ListPartitionReassignments (kafka-python, polled every 100 ms) no longer lists it and
Metadata shows the target replicas; the producer's latencies are those of the records sent
during the move. Prints one tab-separated line per move: name, throttle, seconds, p99 ms, max
ms, records sent during the move, delivery errors.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time

from confluent_kafka import Producer
from kafka import TopicPartition
from kafka.admin import KafkaAdminClient

REASSIGN = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand"
PERF = "org.apache.kafka.tools.ProducerPerformance"
TOPICS = "org.apache.kafka.tools.TopicCommand"
RATE = 2000


def tool(args, main, *extra, log=None):
    out = subprocess.run([args.tools, "run", main, *extra], capture_output=True, text=True,
                         timeout=1800)
    if log:
        with open(log, "a") as f:
            f.write(f"$ {main} {' '.join(extra)}\n{out.stdout}{out.stderr}\n")
    return out.returncode, out.stdout + out.stderr


class Steady:
    """An idempotent acks=all producer (librdkafka) sending RATE 1 KiB records a second, each
    with the time it was sent, until stopped; keeps (sent, latency) per acknowledgement."""

    def __init__(self, bootstrap, topic):
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                  "enable.idempotence": True, "linger.ms": 5})
        self.topic, self.samples, self.errors = topic, [], 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def delivered(self, err, msg, sent):
        if err is None:
            self.samples.append((sent, time.monotonic() - sent))
        else:
            self.errors += 1

    def run(self):
        payload = b"x" * 1024
        next_at = time.monotonic()
        while not self.stop.is_set():
            sent = time.monotonic()
            self.producer.produce(self.topic, value=payload, partition=0,
                                  on_delivery=lambda e, m, s=sent: self.delivered(e, m, s))
            next_at += 1 / RATE
            self.producer.poll(max(0.0, next_at - time.monotonic()))
        self.producer.flush(60)

    def finish(self):
        self.stop.set()
        self.thread.join(90)


def move(args, admin, topic, target, throttle, log):
    plan = os.path.join(args.out, f"{topic}-{'-'.join(map(str, target))}.json")
    with open(plan, "w") as f:
        json.dump({"version": 1, "partitions": [
            {"topic": topic, "partition": 0, "replicas": target}]}, f)
    steady = Steady(args.bootstrap, topic)
    time.sleep(5)
    extra = ["--throttle", str(throttle)] if throttle else []
    started = time.monotonic()
    rc, out = tool(args, REASSIGN, "--bootstrap-server", args.bootstrap, "--execute",
                   "--reassignment-json-file", plan, *extra, log=log)
    if rc != 0:
        steady.finish()
        sys.exit(f"{args.name}: --execute failed: {out[-500:]}")
    tp = TopicPartition(topic, 0)
    while True:
        if not admin.list_partition_reassignments([tp]):
            md = admin.describe_topics([topic])[0]["partitions"][0]
            if md["replicas"] == target:
                break
        if time.monotonic() - started > 1500:
            sys.exit(f"{args.name}: the move to {target} did not complete in 1500 s")
        time.sleep(0.1)
    ended = time.monotonic()
    steady.finish()
    latencies = sorted(lat for sent, lat in steady.samples if started <= sent <= ended)
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan")
    worst = latencies[-1] * 1000 if latencies else float("nan")
    # --verify clears the throttle once the move is done.
    tool(args, REASSIGN, "--bootstrap-server", args.bootstrap, "--verify",
         "--reassignment-json-file", plan, log=log)
    print(f"{args.name}\t{throttle or 'none'}\t{ended - started:.1f}\t{p99:.0f}\t{worst:.0f}\t"
          f"{len(latencies)}\t{steady.errors}", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--tools", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--mb", type=int, default=512)
    parser.add_argument("--throttle", type=int, default=50 * 1024 * 1024)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    log = os.path.join(args.out, f"{args.name}-tools.log")
    topic = f"moving-{args.name}"
    rc, out = tool(args, TOPICS, "--bootstrap-server", args.bootstrap, "--create", "--topic", topic,
                   "--replica-assignment", "1:2", "--config", "min.insync.replicas=1", log=log)
    if rc != 0:
        sys.exit(f"{args.name}: creating {topic} failed: {out[-300:]}")
    time.sleep(3)
    records = args.mb * 1024
    rc, out = tool(args, PERF, "--topic", topic, "--num-records", str(records), "--record-size",
                   "1024", "--throughput", "-1", "--producer-props",
                   f"bootstrap.servers={args.bootstrap}", "acks=1", "linger.ms=20",
                   "batch.size=262144", log=log)
    if rc != 0:
        sys.exit(f"{args.name}: filling {topic} failed: {out[-300:]}")
    admin = KafkaAdminClient(bootstrap_servers=args.bootstrap, request_timeout_ms=30000)
    try:
        move(args, admin, topic, [2, 3], 0, log)
        move(args, admin, topic, [1, 2], args.throttle, log)
    finally:
        admin.close()


if __name__ == "__main__":
    main()
