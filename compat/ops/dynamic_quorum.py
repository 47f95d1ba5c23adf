"""compat/ops/dynamic_quorum.py -- a dynamic controller quorum (KIP-853) changed with Kafka 4.4.0's
kafka-metadata-quorum, against three Runnel processes on 127.0.0.1: node 1 formatted standalone
(`runnel format --standalone`), nodes 2 and 3 started with controller.quorum.bootstrap.servers
only, joining as observers. The "ops" suite's quorum-change cases.

    python dynamic_quorum.py --runnel BIN --work DIR --tools compat/kafka-tools.sh

Cases (each prints `PASS name` / `FAIL name: why`):
  dynamic.formed            describe --status: node 1 is the only voter, with the directory id
                            of its meta.properties; 2 and 3 are observers; kafka-features
                            describe finalizes kraft.version 1.
  dynamic.add_controller    add-controller with node 2's and then node 3's properties file (the
                            tool reads node.id, the controller listener and directory.id from
                            meta.properties): the voters are 1, 2, 3, each with its directory id.
  dynamic.duplicate         add-controller for node 2 again fails with DuplicateVoterException.
  dynamic.remove_controller remove-controller with a wrong directory id fails with
                            VoterNotFoundException; with node 3's id and directory it succeeds
                            and node 3 is an observer again; it is then added back.
  dynamic.leader_failover   the active controller is SIGKILLed: another voter leads, and an
                            acks=all producer's records are all read back; the node restarts.
  dynamic.wiped_voter       node 3 loses its data folder and restarts with a new directory id:
                            it is not counted as a voter under the new id; remove-controller with
                            its old directory, then add-controller with the new meta.properties,
                            makes it a voter again.
Exit status 1 when a case failed.
"""
import json
import os
import re
import shutil
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import opslib
import quorum  # noqa: E402 -- compat/faults/quorum.py, on opslib's path
from cluster import Cluster
from opslib import create_topic, result, tool, wait_for

BOUND_S = 300
QUORUM_TOOL = "org.apache.kafka.tools.MetadataQuorumCommand"
FEATURE_TOOL = "org.apache.kafka.tools.FeatureCommand"


class DynamicCluster(Cluster):
    """Three combined nodes of a dynamic quorum (compat/faults/cluster.py's `dynamic_quorum`):
    node 1 formats itself standalone before its first start; every node finds the quorum
    through the three controller listeners (controller.quorum.bootstrap.servers)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.dynamic_quorum = True

    def properties_file(self, i):
        return quorum.properties_file(self, i)

    def directory_id(self, i):
        return quorum.directory_id(self, i)


def status(args):
    """(voters, observers) from describe --status: lists of {"id", "directoryId"?} dicts."""
    rc, out = tool(args, QUORUM_TOOL, "describe", "--status")
    if rc != 0:
        return None
    voters = re.search(r"CurrentVoters:\s*(\[.*\])", out)
    observers = re.search(r"CurrentObservers:\s*(\[.*\])", out)
    if not voters or not observers:
        return None
    return json.loads(voters.group(1)), json.loads(observers.group(1))


def voter_keys(args):
    described = status(args)
    if described is None:
        return None
    return sorted((v["id"], v.get("directoryId")) for v in described[0])


def add(c, args, i):
    return tool(args, QUORUM_TOOL, "--command-config", c.properties_file(i), "add-controller")


def remove(args, i, directory):
    return tool(args, QUORUM_TOOL, "remove-controller", "--controller-id", str(i),
                f"--controller-directory-id={directory}")


def produce_and_read(bootstrap, topic, n):
    """Produces n acks=all records; answers how many acknowledged and how many read back."""
    acked = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "log_level": 2,
                         "enable.idempotence": True, "message.timeout.ms": 60000})
    for k in range(n):
        producer.produce(topic, value=str(k).encode(),
                         on_delivery=lambda err, msg: err is None and acked.append(msg.offset()))
        producer.poll(0)
    producer.flush(60)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{time.time()}", "log_level": 2,
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    seen = set()
    end = time.time() + 30
    while time.time() < end and len(seen) < len(acked):
        for m in consumer.consume(1000, 1.0):
            if m.error() is None:
                seen.add(m.offset())
    consumer.close()
    return len(acked), len(seen & set(acked))


def run(c, args):
    args.bootstrap = c.bootstrap()
    dirs = {i: c.directory_id(i) for i in c.ids}

    def formed():
        described = status(args)
        if described is None:
            return False
        voters, observers = described
        return ([(v["id"], v.get("directoryId")) for v in voters] == [(1, dirs[1])]
                and {2, 3} <= {o["id"] for o in observers})
    rc, features = tool(args, FEATURE_TOOL, "describe")
    result("dynamic.formed", wait_for(formed, 60)
           and re.search(r"Feature: kraft.version\s+SupportedMinVersion: 0\s+SupportedMaxVersion: 1"
                         r"\s+FinalizedVersionLevel: 1", features) is not None,
           f"status {status(args)}; features exit {rc}: {features[-300:]}")

    outputs = []
    for i in (2, 3):
        # The observer may still be catching up: retried while the answer is REQUEST_TIMED_OUT.
        ok = wait_for(lambda i=i: outputs.append(add(c, args, i)) or outputs[-1][0] == 0, 60)
        if not ok:
            break
    result("dynamic.add_controller",
           voter_keys(args) == [(i, dirs[i]) for i in (1, 2, 3)]
           and all(f"Added controller {i} with directory id {dirs[i]}" in "".join(o for _, o in outputs)
                   for i in (2, 3)),
           f"voters {voter_keys(args)}; last: {outputs[-1][1][-400:] if outputs else ''}")

    rc, out = add(c, args, 2)
    result("dynamic.duplicate", rc != 0 and "DuplicateVoterException" in out, f"exit {rc}: {out[-300:]}")

    rc_wrong, wrong = remove(args, 3, dirs[2])
    rc, out = remove(args, 3, dirs[3])
    removed = voter_keys(args) == [(1, dirs[1]), (2, dirs[2])]
    observer = status(args) is not None and 3 in {o["id"] for o in status(args)[1]}
    back = wait_for(lambda: add(c, args, 3)[0] == 0, 60)
    result("dynamic.remove_controller",
           rc_wrong != 0 and "VoterNotFoundException" in wrong and rc == 0
           and f"Removed KRaft controller 3 with directory id {dirs[3]}" in out and removed
           and observer and back and voter_keys(args) == [(i, dirs[i]) for i in (1, 2, 3)],
           f"wrong: exit {rc_wrong} {wrong[-200:]}; remove: exit {rc} {out[-200:]}; "
           f"removed {removed} observer {observer} back {back}; voters {voter_keys(args)}")

    admin = AdminClient({"bootstrap.servers": c.bootstrap()})
    create_topic(admin, NewTopic("after-failover", num_partitions=1, replication_factor=3))
    leader = None
    rc, out = tool(args, QUORUM_TOOL, "describe", "--status")
    found = re.search(r"LeaderId:\s*(\d+)", out)
    if found:
        leader = int(found.group(1))
        c.kill(leader)
        args.bootstrap = ",".join(c.address(i) for i in c.ids if i != leader)
    new_leader = [None]

    def moved():
        _, text = tool(args, QUORUM_TOOL, "describe", "--status")
        m = re.search(r"LeaderId:\s*(\d+)", text)
        new_leader[0] = int(m.group(1)) if m else None
        return new_leader[0] not in (None, leader)
    failed_over = leader is not None and wait_for(moved, 60)
    acked, read = produce_and_read(args.bootstrap, "after-failover", 2000) if failed_over else (0, 0)
    if leader is not None:
        c.start(leader)
        wait_for(c.registered, 60)
        args.bootstrap = c.bootstrap()
    result("dynamic.leader_failover", failed_over and acked == 2000 and read == acked,
           f"killed {leader}, leader now {new_leader[0]}; acked {acked} read {read}")
    print(f"INFO dynamic quorum: controller {leader} killed, controller {new_leader[0]} leads; "
          f"{acked} records acknowledged and read back {read}", flush=True)

    # Node 3 loses its whole data folder.
    c.kill(3)
    shutil.rmtree(c.data_dir(3), ignore_errors=True)
    c.start(3)
    wait_for(lambda: os.path.exists(os.path.join(c.metadata_dir(3), "meta.properties")), 30)
    new_dir = c.directory_id(3)
    still_old = voter_keys(args) == [(i, dirs[i]) for i in (1, 2, 3)] and new_dir != dirs[3]
    rc_dup, dup = add(c, args, 3)
    rc_rm, out_rm = remove(args, 3, dirs[3])
    back = wait_for(lambda: add(c, args, 3)[0] == 0, 90)
    dirs[3] = new_dir
    result("dynamic.wiped_voter",
           still_old and rc_dup != 0 and "DuplicateVoterException" in dup and rc_rm == 0 and back
           and voter_keys(args) == [(i, dirs[i]) for i in (1, 2, 3)],
           f"old key kept {still_old}; add before removal: exit {rc_dup} {dup[-200:]}; "
           f"remove: exit {rc_rm} {out_rm[-200:]}; back {back}; voters {voter_keys(args)}")


if __name__ == "__main__":
    opslib.main(run, BOUND_S, options=[("--tools", {"required": True,
                                                    "help": "compat/kafka-tools.sh"})],
                cluster_class=DynamicCluster)
