"""compat/faults/client_partition.py -- F8: clients cut from a partition's leader while they produce.

The clients (producer, consumers, group members, the harness's admin calls) run in the root
namespace and reach every node from the bridge address (cluster.SUBNET.1); the nodes reach each
other over their own addresses. F8 drops, inside the leader's namespace, what comes from the
clients (`in`: requests never arrive), what goes to them (`out`: requests arrive and are served,
replicated and acknowledged, but the answers are lost: the outcome is indeterminate for the
client), or both; node-to-node traffic is untouched, so the leader keeps leading and its
followers keep replicating. Held for 12 s, past the producer's request timeout (10 s), so the
idempotent producer's requests time out, are retried on new connections and, once healed, are
answered (a retried batch the leader already wrote answers with its original offset: no
duplicate). The checker resolves the indeterminate outcomes: every acknowledged write must be
read back once at its offset, and no value may be stored twice, whether or not its producer
was told. Own check: the leader is still up and the producer acknowledged writes again after
the heal.
"""
import time

import cluster as cluster_module

HOLD_S = 12


def f8(h, rng, k, variant):
    c = h.cluster
    partition = rng.randrange(h.partitions)
    leader = h.leader_of(partition)
    client = f"{cluster_module.SUBNET}.1"
    t = time.time()
    try:
        c.isolated.add(leader)  # heal() removes the rules
        if variant in ("in", "both"):
            c.ns_run(leader, "iptables", "-A", "INPUT", "-s", client, "-j", "DROP")
        if variant in ("out", "both"):
            c.ns_run(leader, "iptables", "-A", "OUTPUT", "-d", client, "-j", "DROP")
        h.log(f"F8 {variant}: clients cut from node {leader} (leader of {h.topic}-{partition})")
        time.sleep(HOLD_S)
    finally:
        c.heal(leader)
    healed = time.time()
    acked_during = len([a for a in h.workload.acked_since(t, partitions={partition}) if a[3] < healed])
    # The producer's retries go through within a few seconds of the heal.
    deadline = healed + 30
    while time.time() < deadline and not h.workload.acked_since(healed, partitions={partition}):
        time.sleep(0.5)
    after = len(h.workload.acked_since(healed, partitions={partition}))
    h.note("F8", f"{variant}: clients cut from node {leader} for {HOLD_S} s; {h.topic}-{partition} "
                 f"acknowledged {acked_during} writes during the cut, {after} after the heal")
    problems = []
    if not c.alive(leader):
        problems.append(f"node {leader} exited")
    if not after:
        problems.append(f"no write to {h.topic}-{partition} acknowledged within 30 s of the heal")
    if problems:
        h.say("FAIL", f"F8:{variant}: {'; '.join(problems)}")
    return not problems
