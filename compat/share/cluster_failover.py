"""compat/share/cluster_failover.py -- share groups across a leader's SIGKILL in a three-node
Runnel cluster (real processes on 127.0.0.1, compat/faults/cluster.py via compat/ops/opslib.py);
part of the "share" suite.

    python cluster_failover.py --runnel BIN --work DIR --tools compat/kafka-tools.sh

A one-partition topic with three replicas (min.insync.replicas 2). KafkaShareConsumer 4.4.0
(ShareGroups.java restart1) accepts 60 of 100 records and holds the other 40; the partition's
leader is SIGKILLed; once another replica leads, a second consumer (restart2) must get the 40
and none of the 60. The share-partition's state is read by the new leader from the share
coordinator (`__share_group_state`, three replicas), which may itself have moved.

Cases: share.failover (PASS/FAIL from restart2, prefixed `cluster.`), INFO lines with the nodes.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ops"))
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

import opslib  # noqa: E402
from opslib import create_topic, result, wait_for  # noqa: E402

BOUND_S = 300
TOPIC, GROUP = "share-failover", "share-failover-g"
HERE = os.path.dirname(os.path.abspath(__file__))


def leader(admin):
    try:
        p = admin.list_topics(TOPIC, timeout=5).topics[TOPIC].partitions[0]
        return p.leader if p.leader > 0 and len(p.isrs) == 3 else None
    except Exception:  # noqa: BLE001 -- not created yet, or a node is away
        return None


def java(args, mode, bootstrap, timeout):
    return subprocess.run(
        [args.tools, "run", os.path.join(HERE, "ShareGroups.java"), mode, bootstrap, TOPIC, GROUP],
        capture_output=True, text=True, timeout=timeout)


def run(c, args):
    admin = AdminClient({"bootstrap.servers": c.bootstrap()})
    create_topic(admin, NewTopic(TOPIC, num_partitions=1, replication_factor=3,
                                 config={"min.insync.replicas": "2"}))
    if not wait_for(lambda: leader(admin) is not None, 60):
        return result("cluster.share.failover", False, f"{TOPIC} never had a leader and a full ISR")
    first = java(args, "restart1", c.bootstrap(), 120)
    if "ACCEPTED 60" not in first.stdout:
        return result("cluster.share.failover", False,
                      f"the first consumer did not accept 60 records: {first.stdout[-300:]} {first.stderr[-3000:]}")
    old = leader(admin)
    c.kill(old)
    rest = [i for i in c.ids if i != old]
    bootstrap = ",".join(c.address(i) for i in rest)
    survivors = AdminClient({"bootstrap.servers": bootstrap})

    def moved():
        try:
            p = survivors.list_topics(TOPIC, timeout=5).topics[TOPIC].partitions[0]
            return p.leader in rest
        except Exception:  # noqa: BLE001
            return False

    if not wait_for(moved, 60):
        return result("cluster.share.failover", False, f"no new leader after node {old} was killed")
    new = survivors.list_topics(TOPIC, timeout=5).topics[TOPIC].partitions[0].leader
    print(f"INFO cluster.share.failover: leader {old} SIGKILLed, node {new} leads now", flush=True)
    second = java(args, "restart2", bootstrap, 150)
    for line in second.stdout.splitlines():
        if line.startswith(("PASS ", "FAIL ", "INFO ")):
            verdict, rest_of_line = line.split(" ", 1)
            print(f"{verdict} cluster.{rest_of_line}".replace("share.restart", "share.failover"),
                  flush=True)
            if verdict == "FAIL":
                opslib.failed += 1
    if not any(line.startswith(("PASS ", "FAIL ")) for line in second.stdout.splitlines()):
        result("cluster.share.failover", False, f"no verdict: {second.stdout[-300:]} {second.stderr[-300:]}")
    c.start(old)


if __name__ == "__main__":
    opslib.main(run, BOUND_S, options=[("--tools", {"required": True})],
                settings={"share.coordinator.state.topic.num.partitions": 3,
                          "group.share.record.lock.duration.ms": 5000})
