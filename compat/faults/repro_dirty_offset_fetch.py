"""compat/faults/repro_dirty_offset_fetch.py -- reproduces the broker bug behind the cluster suite's
`group.committed-monotonic` failures: OffsetFetch answers with an offset commit that has not
reached the ISR, and that a failover then loses, so a group's committed offset goes back.

    sudo python repro_dirty_offset_fetch.py --runnel BIN --work DIR

Three nodes in namespaces (cluster.py); group `g` commits t-0 = 10 (acknowledged); the group
coordinator's node is isolated from its peers (clients still reach it); one OffsetCommit t-0 = 20
is sent to it by hand (no client retry); OffsetFetch is asked through librdkafka meanwhile and
after the failover. Kafka answers 10 throughout (its coordinator updates the offsets it serves
only once the commit's append is replicated). Exit status 1 when the bug shows (20 served, then
10), 0 when it does not, 2 on a setup failure.
"""
import argparse
import os
import shutil
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from confluent_kafka import Consumer, KafkaException, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from cluster import Cluster  # noqa: E402
import txn_workload  # noqa: E402


def string(x):
    b = x.encode()
    return struct.pack(">h", len(b)) + b


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
        "offsets.topic.num.partitions": 3}, log=lambda _: None)
    if not c.namespaces:
        print("needs root and network namespaces", file=sys.stderr)
        sys.exit(2)
    seen = []

    def fetch(when):
        w = Consumer({"bootstrap.servers": c.bootstrap(), "group.id": "g", "enable.auto.commit": False})
        try:
            tp = w.committed([TopicPartition("t", 0)], timeout=5)[0]
            print(f"{time.strftime('%H:%M:%S')} {when}: OffsetFetch says {tp.offset}", flush=True)
            seen.append(tp.offset)
        except KafkaException as e:
            print(f"{time.strftime('%H:%M:%S')} {when}: OffsetFetch error {e.args[0].name()}", flush=True)
        w.close()
    try:
        c.setup_network()
        c.start_all()
        admin = AdminClient({"bootstrap.servers": c.bootstrap()})
        for _ in range(60):
            try:
                admin.create_topics([NewTopic("t", 1, 3, config={"min.insync.replicas": "2"})])["t"].result(10)
                break
            except Exception:  # noqa: BLE001 -- the cluster is still starting
                time.sleep(1)
        member = Consumer({"bootstrap.servers": c.bootstrap(), "group.id": "g", "enable.auto.commit": False})
        for _ in range(40):
            try:
                member.commit(offsets=[TopicPartition("t", 0, 10)], asynchronous=False)
                break
            except KafkaException:
                time.sleep(0.5)
        member.close()
        fetch("after the acknowledged commit of 10")
        node = next(n for _, n in (txn_workload.find_coordinator(c.address(i), "g", 0) for i in c.ids) if n >= 1)
        c.isolate(node)
        print(f"{time.strftime('%H:%M:%S')} group coordinator node {node} isolated from its peers", flush=True)
        # OffsetCommit v2: group, generation -1, member "", retention -1, [t: [0 -> 20, ""]]
        body = (struct.pack(">hhi", 8, 2, 7) + string("repro") + string("g") + struct.pack(">i", -1) +
                string("") + struct.pack(">q", -1) + struct.pack(">i", 1) + string("t") +
                struct.pack(">i", 1) + struct.pack(">iq", 0, 20) + string(""))
        host, port = c.address(node).rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout=30)
        sock.sendall(struct.pack(">i", len(body)) + body)

        def answer():
            try:
                size = struct.unpack(">i", sock.recv(4))[0]
                resp = sock.recv(size)
                code = struct.unpack(">h", resp[4 + 4 + 2 + 1 + 4 + 4:][:2])[0]
                print(f"{time.strftime('%H:%M:%S')} the commit of 20 was answered with error code {code}", flush=True)
            except (OSError, struct.error) as e:
                print(f"the commit of 20: {e}", flush=True)
        waiter = threading.Thread(target=answer, daemon=True)
        waiter.start()
        time.sleep(1)
        fetch("1 s after the commit of 20 was sent")
        waiter.join(40)
        for k in range(4):
            time.sleep(2)
            fetch(f"{2 * k + 2} s after its answer")
        c.heal(node)
    finally:
        c.destroy()
    bug = 20 in seen and seen[-1:] == [10]
    print("REPRODUCED: OffsetFetch served 20, then 10" if bug else f"not reproduced: {seen}")
    sys.exit(1 if bug else 0)


if __name__ == "__main__":
    main()
