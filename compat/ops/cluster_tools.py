"""compat/ops/cluster_tools.py -- Kafka 4.4.0's kafka-metadata-quorum and kafka-reassign-partitions
against a three-node Runnel cluster (real processes on 127.0.0.1, compat/faults/cluster.py), the
"ops" suite's cluster-tool cases.

    python cluster_tools.py --runnel BIN --work DIR --tools compat/kafka-tools.sh

Cases (each prints `PASS name` / `FAIL name: why`):
  quorum.status           `kafka-metadata-quorum describe --status` names the leader, its epoch,
                          the high watermark and the three voters.
  quorum.replication      `describe --replication` lists the leader and two followers with their
                          log end offsets.
  reassign.generate       --generate proposes a move of topic `moving` onto brokers 2,3.
  reassign.execute        --execute --throttle 30000000 starts moving `moving-0` from {1,2} to
                          {2,3} while an idempotent acks=all producer writes to it; the broker
                          and topic throttles are set.
  reassign.verify         --verify reports the move completed (exit 0); Metadata shows replicas
                          [2,3] with both in the ISR, node 1 deleted its copy, and --verify
                          cleared the throttles.
  reassign.no_loss        every acknowledged record is read back from the new replicas at the
                          offset it was acknowledged at (INFO: how many, the longest pause in
                          acknowledgements during the move).
  reassign.kafka_python_admin
                          kafka-python's admin client reorders moving-0 to [3,2], gets
                          INVALID_REPLICA_ASSIGNMENT for a target with an unknown broker, lists
                          no reassignment and describes the metadata quorum.
  reassign.throttle_list_cancel
                          with 4 MB more in `moving-0`, a move to {1,3} under --throttle 1000
                          (bytes/s) is still in progress 5 s later: --list shows it with its
                          adding and removing replicas; --cancel puts the replicas back to {2,3},
                          --list shows nothing and the throttles are cleared.
  cluster.unregister      node 1, holding no replica of `moving` any more, is stopped and
                          `kafka-cluster unregister --id 1` removes it: Metadata lists 2 and 3.
Exit status 1 when a case failed.
"""
import json
import os
import re
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

import opslib
from opslib import Writer, create_topic, read_back, result, wait_for

BOUND_S = 300
TOOL = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand"
QUORUM_TOOL = "org.apache.kafka.tools.MetadataQuorumCommand"
CLUSTER_TOOL = "org.apache.kafka.tools.ClusterTool"
def tool(tools, args, *extra, main=TOOL, subcommand=None):
    """kafka-reassign-partitions (or `main`): opslib.tool with this script's default class."""
    return opslib.tool(args, main, *extra, subcommand=subcommand)


def replicas(admin, topic="moving"):
    """(replicas, leader, sorted ISR) of topic-0, or None."""
    try:
        p = admin.list_topics(topic, timeout=5).topics[topic].partitions[0]
        return list(p.replicas), p.leader, sorted(p.isrs)
    except Exception:  # noqa: BLE001 -- not created or not led yet
        return None


def plan_file(work, name, target):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        json.dump({"version": 1, "partitions": [
            {"topic": "moving", "partition": 0, "replicas": target}]}, f)
    return path


def run(c, args):
    admin = AdminClient({"bootstrap.servers": c.bootstrap()})
    args.bootstrap = c.bootstrap()
    create_topic(admin, NewTopic("moving", num_partitions=1, replica_assignment=[[1, 2]]))
    if not wait_for(lambda: replicas(admin) == ([1, 2], 1, [1, 2]), 60):
        return result("reassign.setup", False, f"moving-0 is {replicas(admin)}")

    rc, out = tool(args.tools, args, "describe", "--status", main=QUORUM_TOOL)
    voters = re.search(r"CurrentVoters:\s*(\[.*\])", out)
    result("quorum.status", rc == 0 and re.search(r"LeaderId:\s*[123]\b", out) is not None
           and re.search(r"HighWatermark:\s*[1-9]", out) is not None and voters is not None
           and all(f'"id": {i}' in voters.group(1) or f'"id":{i}' in voters.group(1)
                   for i in (1, 2, 3)),
           f"exit {rc}: {out[-400:]}")
    rc, out = tool(args.tools, args, "describe", "--replication", main=QUORUM_TOOL)
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["1"], ["2"], ["3"])]
    statuses = sorted(r[-1] for r in rows)
    result("quorum.replication", rc == 0 and statuses == ["Follower", "Follower", "Leader"],
           f"exit {rc}: {out[-400:]}")

    topics = os.path.join(args.work, "topics.json")
    with open(topics, "w") as f:
        json.dump({"version": 1, "topics": [{"topic": "moving"}]}, f)
    rc, out = tool(args.tools, args, "--generate", "--topics-to-move-json-file", topics,
                   "--broker-list", "2,3")
    result("reassign.generate", rc == 0 and "Proposed partition reassignment configuration" in out,
           f"exit {rc}: {out[-300:]}")

    writer = Writer(c.bootstrap(), "moving", BOUND_S, partition=0)
    if not wait_for(lambda: len(writer.acked) >= 20_000, 60):
        writer.finish()
        return result("reassign.execute", False, f"only {len(writer.acked)} acknowledged before")
    plan = plan_file(args.work, "move.json", [2, 3])
    moved_at = time.monotonic()
    rc, out = tool(args.tools, args, "--execute", "--reassignment-json-file", plan,
                   "--throttle", "30000000")
    set_throttles = throttles(admin)
    result("reassign.execute", rc == 0 and "Successfully started partition reassignment" in out
           and set_throttles[0] and set_throttles[1],
           f"exit {rc}: {out[-300:]}; throttles set {set_throttles}")
    verified = []

    def verify():
        rc, out = tool(args.tools, args, "--verify", "--reassignment-json-file", plan)
        verified[:] = [rc, out]
        return "is completed" in out
    completed = wait_for(verify, 120)
    done_at = time.monotonic()
    state = replicas(admin)
    gone = wait_for(lambda: not os.path.exists(os.path.join(c.data_dir(1), "moving-0")), 30)
    cleared = throttles(admin)
    result("reassign.verify", completed and verified[0] == 0 and state is not None
           and state[0] == [2, 3] and state[2] == [2, 3] and gone and cleared == ({}, {}),
           f"completed {completed} (exit {verified[:1]}), moving-0 {state}, node 1's copy "
           f"deleted {gone}, throttles left {cleared}: {verified[1:][0][-300:] if verified else ''}")
    time.sleep(2)
    writer.finish()
    acked = dict(writer.acked)
    seen = read_back(c.bootstrap(), "moving", acked)
    lost = [o for o, v in acked.items() if seen.get(o) != v]
    print(f"INFO reassign: {len(acked)} acknowledged, {len(seen)} read back, "
          f"move took {done_at - moved_at:.1f} s, longest pause in acknowledgements during it "
          f"{writer.pause_during(moved_at - 1, done_at + 1):.0f} ms, "
          f"producer errors {len(writer.errors)}", flush=True)
    result("reassign.no_loss", acked and not lost,
           f"{len(lost)} of {len(acked)} acknowledged records not read back (first {sorted(lost)[:5]})")

    python_admin(c.bootstrap(), admin)

    # A move held back by a tight throttle: listed while in progress, then cancelled.
    bulk = Producer({"bootstrap.servers": c.bootstrap(), "acks": "all", "linger.ms": 20})
    for i in range(40_000):
        while True:
            try:
                bulk.produce("moving", value=b"x" * 100, partition=0)
                break
            except BufferError:
                bulk.poll(0.05)
        bulk.poll(0)
    bulk.flush(60)
    stuck = plan_file(args.work, "stuck.json", [1, 3])
    rc, out = tool(args.tools, args, "--execute", "--reassignment-json-file", stuck,
                   "--throttle", "1000")
    ok = rc == 0 and throttles(admin) != ({}, {})
    time.sleep(5)
    rc, listed = tool(args.tools, args, "--list")
    ok = ok and rc == 0 and "moving-0" in listed and "adding: 1" in listed \
        and "removing: 2" in listed
    rc, out = tool(args.tools, args, "--cancel", "--reassignment-json-file", stuck)
    ok = ok and rc == 0
    # The merged list's order stays ([3, 2] here), as Kafka's revert keeps it.
    back = wait_for(lambda: sorted((replicas(admin) or [[]])[0]) == [2, 3], 30)
    rc, after = tool(args.tools, args, "--list")
    cleared = throttles(admin)
    result("reassign.throttle_list_cancel",
           ok and back and rc == 0 and "moving-0" not in after and cleared == ({}, {}),
           f"listed {listed.strip()[-200:]!r}, back to {2,3} {back}, then {after.strip()[-200:]!r}, "
           f"throttles left {cleared}")

    # Retiring node 1 (no partition of `moving` on it any more): stopped, then unregistered.
    c.terminate(1)
    rc, out = tool(args.tools, args, "--id", "1", main=CLUSTER_TOOL, subcommand="unregister")
    gone = wait_for(lambda: sorted(b.id for b in admin.list_topics(timeout=5).brokers.values())
                    == [2, 3], 30)
    result("cluster.unregister", rc == 0 and gone,
           f"exit {rc}: {out[-300:]}; brokers {sorted(admin.list_topics(timeout=5).brokers)}")
    return 0


def python_admin(bootstrap, admin):
    """kafka-python's admin client makes the same calls: a reorder of moving-0 to [3, 2] (done at
    once), an unknown broker refused for that partition, the quorum described."""
    from kafka import TopicPartition as Tp
    from kafka.admin import KafkaAdminClient
    client = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    try:
        tp = Tp("moving", 0)
        moved = client.alter_partition_reassignments({tp: [3, 2]})
        refused = client.alter_partition_reassignments({tp: [3, 9]})
        ongoing = client.list_partition_reassignments()
        quorum = client.describe_metadata_quorum()
    finally:
        client.close()
    reordered = wait_for(lambda: (replicas(admin) or [[]])[0] == [3, 2], 30)
    refusal = getattr(refused.get(tp), "__name__", str(refused.get(tp)))
    voters = [v["replica_id"] for t in quorum.get("topics", []) for p in t["partitions"]
              for v in p["current_voters"]] if isinstance(quorum, dict) else []
    # kafka-python names INVALID_REPLICA_ASSIGNMENT (39) InvalidReplicationAssignmentError.
    result("reassign.kafka_python_admin",
           moved.get(tp) is None and reordered and "AssignmentError" in refusal
           and not ongoing and sorted(voters) == [1, 2, 3],
           f"moved {moved}, reordered {reordered}, refused {refused}, ongoing {ongoing}, "
           f"quorum {str(quorum)[:300]}")


def throttles(admin):
    """The throttle settings left on broker 1 and on topic moving: (broker's, topic's)."""
    from confluent_kafka.admin import ConfigResource, ResourceType
    found = []
    for resource in (ConfigResource(ResourceType.BROKER, "1"),
                     ConfigResource(ResourceType.TOPIC, "moving")):
        try:
            entries = admin.describe_configs([resource])[resource].result(15)
        except Exception as e:  # noqa: BLE001
            return f"describe_configs failed: {e}"
        found.append({k: v.value for k, v in entries.items()
                      if "throttled" in k and v.value not in (None, "")})
    return tuple(found)


if __name__ == "__main__":
    opslib.main(run, BOUND_S, options=[("--tools", {"required": True,
                                                    "help": "compat/kafka-tools.sh"})])
