"""compat/faults/membership.py -- F27: a partition reassignment in progress when a node dies
(issue 15's membership faults; Jepsen found lost writes under membership changes in other
Kafka-compatible systems).

Each cycle picks a partition of the harness topic and a follower `v` of it: the partition is
reassigned to its replicas without `v` (a shrink to in-sync replicas, complete at once: `v`
deletes its copy), then back to its original replicas, so that `v` copies the whole log from the
leader while producers go on writing. 0.1-0.6 s into that copy, variant `kill-adding` SIGKILLs
`v` (restarted 2 s later: it must start its copy over from what it had) and `kill-leader`
SIGKILLs the leader, the copy's source (restarted after the session timeout: another in-sync
replica leads and serves the copy). The reassignment must then complete (ListPartitionReassignments
empty, the original replicas back, in order) within 90 s; the harness then waits for a full ISR
and its end-of-run checks find any acknowledged write lost or replica diverged.

Calls go through kafka-python's admin client (AlterPartitionReassignments and
ListPartitionReassignments; confluent-kafka has neither).
"""
import time

from kafka import TopicPartition
from kafka.admin import KafkaAdminClient


def replicas(h, partition):
    try:
        return list(h.metadata()[partition].replicas)
    except Exception:  # noqa: BLE001 -- a node may be away
        return None


def wait(check, bound):
    end = time.time() + bound
    while time.time() < end:
        try:
            if check():
                return True
        except Exception:  # noqa: BLE001 -- retried until the bound
            pass
        time.sleep(0.3)
    return False


def f27(h, rng, k, variant):
    c = h.cluster
    partition = rng.randrange(h.partitions)
    pm = h.metadata()[partition]
    original, leader = list(pm.replicas), pm.leader
    victim = rng.choice([r for r in original if r != leader])
    tp = TopicPartition(h.topic, partition)
    admin = KafkaAdminClient(bootstrap_servers=c.bootstrap(), request_timeout_ms=20000)
    problems = []
    try:
        shrunk = [r for r in original if r != victim]
        refused = {t: e for t, e in admin.alter_partition_reassignments({tp: shrunk}).items() if e}
        if refused or not wait(lambda: replicas(h, partition) == shrunk, 30):
            problems.append(f"the shrink to {shrunk} did not complete ({refused or replicas(h, partition)})")
        else:
            refused = {t: e for t, e in admin.alter_partition_reassignments({tp: original}).items() if e}
            if refused:
                problems.append(f"the move back to {original} was refused: {refused}")
            time.sleep(rng.uniform(0.1, 0.6))
            killed = victim if variant == "kill-adding" else leader
            started = time.time()
            c.kill(killed)
            h.log(f"F27:{variant}: {h.topic}-{partition} {original} -> {shrunk} -> {original}; "
                  f"SIGKILL node {killed} while node {victim} copies the log")
            time.sleep(2 if variant == "kill-adding" else h.session_timeout_s + 1.5)
            c.start(killed)

            def done():
                ongoing = admin.list_partition_reassignments()
                return not ongoing and replicas(h, partition) == original
            if wait(done, 90):
                h.note("F27", f"{variant}: {h.topic}-{partition} back on {original} "
                              f"{time.time() - started:.1f}s after node {killed} was killed")
            else:
                problems.append(f"the move back to {original} did not complete within 90 s "
                                f"(replicas {replicas(h, partition)})")
    finally:
        admin.close()
    if problems:
        h.say("FAIL", f"F27:{variant}: {'; '.join(problems)}")
    return not problems
