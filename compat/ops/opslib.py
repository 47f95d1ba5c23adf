"""compat/ops/opslib.py -- what the ops suite's scripts share: PASS/FAIL lines and the count of
failures, bounded waits, creating a topic through a cluster that may still be starting, an
idempotent producer that records what was acknowledged and when, reading it all back, and the
frame of a run: `--runnel BIN --work DIR` (plus a script's own options), three Runnel processes
on 127.0.0.1 (compat/faults/cluster.py) with short session timeouts, started and registered, a
time bound, SIGTERM handling, the nodes stopped and the exit status (1 when a case failed).
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "faults"))
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

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


def tool(args, main, *extra, subcommand=None):
    """Runs one of Kafka's tool classes (`args.tools`: compat/kafka-tools.sh) with
    --bootstrap-server args.bootstrap (after `subcommand`, as kafka-cluster takes it), logging
    to WORK/tool.log; returns (exit status, stdout + stderr)."""
    cmd = [args.tools, "run", main, *([subcommand] if subcommand else []),
           "--bootstrap-server", args.bootstrap, *extra]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        return 124, "timed out after 90 s"
    text = out.stdout + out.stderr
    with open(os.path.join(args.work, "tool.log"), "a") as log:
        log.write(f"$ {' '.join(extra)}\n{text}\n")
    return out.returncode, text


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


class Writer:
    """An idempotent acks=all producer (librdkafka) writing numbered values to `topic` (to
    `partition`, else keyed across partitions) until stopped, for at most `seconds`: `acked`
    maps (partition, offset) to value, `ack_times` holds when each acknowledgement came,
    `errors` the delivery errors, `fatal` and `transient` the client's other errors."""

    def __init__(self, bootstrap, topic, seconds, partition=None):
        self.topic, self.partition, self.seconds = topic, partition, seconds
        self.acked, self.ack_times, self.errors, self.fatal = {}, [], [], []
        self.transient = 0
        self.stop = threading.Event()
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                  "enable.idempotence": True, "linger.ms": 5,
                                  "message.timeout.ms": 120000, "error_cb": self.error})
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def error(self, err):
        if err.fatal():
            self.fatal.append(str(err))
        else:
            self.transient += 1

    def delivered(self, err, msg):
        if err is None:
            self.acked[(msg.partition(), msg.offset())] = msg.value()
            self.ack_times.append(time.monotonic())
        else:
            self.errors.append(str(err))

    def run(self):
        i = 0
        end = time.time() + self.seconds
        where = {"partition": self.partition} if self.partition is not None else {}
        while not self.stop.is_set() and time.time() < end and i < 3_000_000:
            try:
                self.producer.produce(self.topic, value=f"{i:010d}".encode(),
                                      key=str(i).encode(), on_delivery=self.delivered, **where)
                i += 1
            except BufferError:
                pass
            self.producer.poll(0.001)
        self.producer.flush(120)

    def finish(self):
        self.stop.set()
        self.thread.join(150)

    def pause_during(self, start, end):
        """The longest gap between acknowledgements from `start` to `end` (monotonic), in ms."""
        during = [t for t in self.ack_times if start <= t <= end]
        return max((b - a for a, b in zip(during, during[1:])), default=0) * 1000


def read_back(bootstrap, topic, acked):
    """Every record of `topic` up to the highest acknowledged offset of each partition in
    `acked` ((partition, offset) keys): (partition, offset) -> value."""
    ends = {}
    for (p, o) in acked:
        ends[p] = max(ends.get(p, -1), o + 1)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-check",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, p, 0) for p in ends])
    seen = {}
    deadline = time.time() + 90
    while time.time() < deadline and sum(1 for k in seen if k[1] < ends[k[0]]) < sum(ends.values()):
        for m in consumer.consume(1000, 1.0):
            if m.error() is None:
                seen[(m.partition(), m.offset())] = m.value()
    consumer.close()
    return seen


def main(run, bound, options=(), settings=None, node_settings=None, cluster_class=Cluster):
    """Runs `run(cluster, args)` against three started, registered nodes within `bound` seconds.
    `options`: (flag, argparse keywords) pairs of the script's own; `cluster_class`: Cluster or
    a subclass starting its nodes another way."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runnel", required=True)
    parser.add_argument("--work", required=True)
    for flag, keywords in options:
        parser.add_argument(flag, **keywords)
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    c = cluster_class(args.runnel, args.work, nodes=3, settings={**SETTINGS, **(settings or {})},
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
