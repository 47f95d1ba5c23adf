"""compat/faults/repro_roll_hole.py -- reproduces a broker bug F12/F13 can hit (rarely, by timing):
a power cut between a segment roll and the sealed segment's fdatasync leaves a hole that
recovery takes for data, and the replica, once leader, loses acknowledged writes.

    sudo python repro_roll_hole.py --runnel BIN --work DIR

Log::roll creates the new segment B and fsyncs the directory under the log's lock; the rolling
append writes its batch into B; only then (finish_append, outside the lock) is the sealed
segment A fdatasynced. In the page-cache mode A was never fsynced while active, so a power cut
in that window leaves B's file and little or nothing of A, with the recovery-point checkpoint at
or below A's base (it moves only after A's fsync). This script makes that state by hand on one
follower (SIGKILL; A and B cut to 0 bytes; recovery point = A's base), restarts it, and shows:
recovery re-reads A (above the recovery point), finds no damaged batch (A simply ends early),
keeps B, and opens the log with log_end = B's base; the follower rejoins the ISR with a hole of
A's offsets and, made leader, serves the log without them. Three nodes in namespaces
(cluster.py), topic t (1 partition, RF 3, min ISR 2, 128 KiB segments), 6,000 + 500 records
acks=all. Exit status 1 when the follower, back in the ISR, lacks batches the leader holds (and,
once it leads, serves the log without them), 0 when it re-fetched them, 2 on a setup failure.
Reproduced on the build of 23:41 (1,184 acknowledged records lost); fixed by 294bfa6 (recovery
cuts the log where a re-validated segment ends before the next one's base).
"""
import argparse
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from cluster import Cluster  # noqa: E402
import corrupt  # noqa: E402
import power  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runnel", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    c = Cluster(args.runnel, args.work, settings={
        "broker.session.timeout.ms": 3000, "broker.heartbeat.interval.ms": 500,
        "replica.lag.time.max.ms": 4000, "offsets.topic.replication.factor": 3,
        "offsets.topic.num.partitions": 1}, log=lambda _: None)
    if not c.namespaces:
        print("needs root and network namespaces", file=sys.stderr)
        sys.exit(2)
    try:
        sys.exit(run(c))
    finally:
        c.destroy()


def run(c):
    c.setup_network()
    c.start_all()
    admin = AdminClient({"bootstrap.servers": c.bootstrap()})

    def partition():
        return admin.list_topics("t", timeout=5).topics["t"].partitions[0]

    def wait_full_isr():
        for _ in range(120):
            try:
                if c.registered() and partition().leader >= 1 and len(partition().isrs) == 3:
                    return True
            except Exception:  # noqa: BLE001 -- not created or not led yet
                pass
            time.sleep(0.5)
        return False

    for _ in range(60):
        try:
            admin.create_topics([NewTopic("t", 1, 3, config={"min.insync.replicas": "2",
                                                              "segment.bytes": "131072"})])["t"].result(15)
            break
        except Exception as e:  # noqa: BLE001
            if "ALREADY" in str(e):
                break
            time.sleep(1)
    if not wait_full_isr():
        print("setup: topic t never had a full ISR", file=sys.stderr)
        return 2

    def produce(n, start):
        p = Producer({"bootstrap.servers": c.bootstrap(), "acks": "all", "enable.idempotence": True,
                      "linger.ms": 5, "batch.size": 16384})
        acked = []
        for i in range(start, start + n):
            p.produce("t", value=(f"{i:08d}" + "x" * 92).encode(), partition=0,
                      on_delivery=lambda e, m: acked.append(m.offset()) if e is None else None)
            p.poll(0)
        p.flush(60)
        return acked

    acked = produce(6000, 0)
    if len(acked) < 6000:
        print(f"setup: only {len(acked)} of 6000 records acknowledged", file=sys.stderr)
        return 2
    time.sleep(2)
    leader = partition().leader
    f = [i for i in c.ids if i != leader][0]
    c.kill(f)
    folder = os.path.join(c.data_dir(f), "t-0")
    segments = corrupt.segments(folder)
    if len(segments) < 2:
        print("setup: no sealed segment", file=sys.stderr)
        return 2
    (a_base, a_path), (b_base, b_path) = segments[-2], segments[-1]
    os.truncate(a_path, 0)
    os.truncate(b_path, 0)
    with open(os.path.join(folder, "recovery-point-offset-checkpoint"), "w") as fh:
        fh.write(f"0\n1\n{a_base}\n")
    print(f"node {f} (follower of t-0, leader node {leader}) SIGKILLed; as a power cut between the roll to "
          f"{b_base} and the fsync of segment {a_base} leaves it: {power.partition_shape(folder)}, "
          f"recovery point {a_base}")
    position = c.log_size(f)
    c.start(f)
    if not wait_full_isr():
        print(f"node {f} did not rejoin the ISR", file=sys.stderr)
        return 2
    for line in c.log_since(f, position).splitlines():
        if "t-0" in line and ("log opened" in line or "WARN" in line or "truncat" in line):
            print(f"node {f}: {line[:260]}")
    acked += produce(500, 6000)
    time.sleep(3)
    mine, _ = corrupt.read_replica(folder)
    theirs, _ = corrupt.read_replica(os.path.join(c.data_dir(leader), "t-0"))
    missing = sorted(b for b in theirs if b not in mine)
    print(f"node {f} back in the ISR; batches node {leader} holds and node {f} lacks: {len(missing)}" +
          (f" (offsets {missing[0]}-{theirs[missing[-1]][0]})" if missing else ""))
    # Make node f the leader: SIGTERM whichever other node leads, restart it once the ISR is
    # full again (bounded), then read the partition back from node f.
    for _ in range(10):
        current = partition().leader
        if current == f:
            break
        c.terminate(current)
        time.sleep(5)
        c.start(current)
        wait_full_isr()
    lost = []
    if partition().leader == f:
        consumer = Consumer({"bootstrap.servers": c.bootstrap(), "group.id": "r", "enable.auto.commit": False,
                             "auto.offset.reset": "earliest"})
        consumer.assign([TopicPartition("t", 0, 0)])
        seen, end = set(), time.time() + 30
        while time.time() < end and len(seen) < len(acked):
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                seen.add(msg.offset())
        consumer.close()
        lost = sorted(set(acked) - seen)
        print(f"node {f} leads t-0: read back {len(seen)} of {len(acked)} acknowledged offsets" +
              (f"; missing {len(lost)} ({lost[0]}-{lost[-1]})" if lost else ""))
    else:
        print(f"node {f} did not become the leader in 10 elections; not read back through it")
    bug = bool(missing or lost)
    print("REPRODUCED: an ISR member lacks acknowledged batches" + (", lost once it led" if lost else "")
          if bug else "not reproduced: the replica re-fetched what the cut removed")
    return 1 if bug else 0


if __name__ == "__main__":
    main()
