"""compat/faults/power.py -- simulated power loss: faults F12, F13 and F15 of reliability.md.

Owns the three power-loss faults (faults.py lists them in FAULTS) and what they report. Every
node runs with RNL_FAULTS_SYNC_JOURNAL=WORK/node-i.sync-journal (cluster.py), so the broker
(storage::sync_journal) appends `<length> <path>` after every fdatasync of a segment `.log` file
(and after every truncation). A power cut here is: SIGKILL (the process and its memory go, as
in F1), then power_loss.lose_unsynced() cuts every segment `.log` file of the node's
non-compacted data topics (DATA_TOPICS) back to its last journaled length: the page cache the
power cut would have lost. What the journal does not describe is left as the SIGKILL left it:

- index files (`.index`, `.timeindex`, `.txnindex`) and producer `.snapshot` files: derived
  state the broker validates or rebuilds past the recovery point (F17 damages them on purpose);
- the checkpoints (recovery point, log start offset, leader epochs): written atomically with
  fsync (storage::checkpoint), so a power cut keeps them as the SIGKILL did. The recovery point
  only moves past what an fsync covered (storage::flush), so it never lies above the cut; the
  leader-epoch checkpoint may name epochs starting past the cut log end (the broker drops them
  at open: `truncate_from_end`). The fault reports the recovery point against the cut log end;
- the compacted topics (`__consumer_offsets`, `__transaction_state`: the cleaner writes segments
  under a temporary name, which the journal records) and the metadata log
  (`__cluster_metadata`, openraft): not cut.

A cut can leave a hole: a sealed segment cut short while a later segment file exists (the
append that rolls writes to the new segment before the sealed one is fsynced). Each fault checks
that after the restart the victim holds, for every hole, the batches its peers hold.

F12 one node: variant `leader` (the leader of a random partition of `faults`) or `follower` (a
    follower of it), taking turns; power back after 1 s or after the session timeout + 1.5 s
    (seeded choice: before or after the controller fences the node). It must recover, truncate,
    refetch and rejoin every ISR; the other two nodes hold every acknowledged write.
F13 a minority (one node of three) with process pauses, as Jepsen's NATS "pause-kill": variant
    `pause-kill`: the victim is SIGSTOPped past the session timeout (fenced, out of the ISRs),
    SIGCONTed, catches up for 0.5-2 s (into its page cache), then loses power; `pause-peer`:
    another node is SIGSTOPped past the session timeout, so the victim and the third node alone
    acknowledge writes, then SIGCONTed, and 0-1 s later (that node still catching up, outside the
    ISR) the victim loses power: the writes acknowledged meanwhile are then on the third node
    only (and on the resumed node once it caught up). Power back after 1 s.
F15 all three nodes lose power together (SIGKILL all, cut all, power back after 1-2 s). Needs
    `--fsync` (log.flush.on.ack=true: every append, leader or follower, is fsynced before it is
    acknowledged); harness.py exits 2 otherwise. In the default page-cache mode Kafka's
    semantics allow acknowledged writes to be lost here (reliability.md: "loss bounded and
    documented"); the harness does not run that, so that the lost-write check never has to
    excuse a loss. Besides the end-of-run checks, each cycle compares, per partition of `faults`,
    the highest offset acknowledged before the cut with the log end each node kept.
"""
import os
import signal
import time

import corrupt
import power_loss

# The non-compacted data topics the harness creates (java-check only at the end).
DATA_TOPICS = ("faults", "txn-in", "txn-out", "java-check")


def partition_shape(folder):
    """[(base offset, end offset after the segment's last whole batch, bytes)] per segment."""
    out = []
    for base, path in corrupt.segments(folder):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        end = base
        for _, _, last, _ in corrupt.batches(data):
            end = last + 1
        out.append((base, end, len(data)))
    return out


def log_end_and_holes(shape):
    """The end of the contiguous prefix recovery can keep, the end of the last batch anywhere, and
    the holes: (end of a segment cut short, base of a later segment)."""
    holes = []
    for (_, end, _), (next_base, _, _) in zip(shape, shape[1:]):
        if end < next_base:
            holes.append((end, next_base))
    last = max((end for _, end, _ in shape), default=0)
    prefix = holes[0][0] if holes else last
    return prefix, last, holes


def data_partitions(data_dir):
    return [n for n in corrupt.partition_dirs(data_dir, internal=False) if n.rsplit("-", 1)[0] in DATA_TOPICS]


def recovery_point(folder):
    try:
        with open(os.path.join(folder, "recovery-point-offset-checkpoint")) as f:
            lines = f.read().split()
        return int(lines[2]) if len(lines) >= 3 else None
    except (OSError, ValueError):
        return None


def power_cut(h, nodes):
    """SIGKILLs `nodes` (all signals first, then the waits, so that they die together), then cuts
    each one's unsynced segment bytes. Returns {node: {partition: (end before, end after, bytes
    dropped, holes, recovery point)}} for the partitions that lost bytes."""
    c = h.cluster
    for i in nodes:
        p = c.procs.get(i)
        if p is not None and p.poll() is None:
            if i in c.stopped:
                os.kill(p.pid, signal.SIGCONT)
            p.kill()
    for i in nodes:
        c.kill(i)
    report = {}
    for i in nodes:
        data_dir = c.data_dir(i)
        before = {n: partition_shape(os.path.join(data_dir, n)) for n in data_partitions(data_dir)}
        dropped = power_loss.lose_unsynced(c.journal(i), data_dir, DATA_TOPICS)
        report[i] = {}
        for name, n in sorted(dropped.items()):
            folder = os.path.join(data_dir, name)
            _, end_before, _ = log_end_and_holes(before.get(name, []))
            end_after, _, holes = log_end_and_holes(partition_shape(folder))
            report[i][name] = (end_before, end_after, n, holes, recovery_point(folder))
    return report


def mode(h):
    return "fsync" if getattr(h.args, "fsync", False) else "page-cache"


def describe(node, cut):
    if not cut:
        return f"node {node} lost nothing (every segment synced)"
    parts = []
    for name, (before, after, n, holes, rp) in cut.items():
        text = f"{name} {before}->{after} ({n} B)"
        if holes:
            text += f" HOLES {holes}"
        if rp is not None and rp > after:
            text += f" recovery point {rp} above the cut end"
        parts.append(text)
    return f"node {node} lost " + ", ".join(parts)


def check_holes(h, fault, node, cut):
    """After the restart: the victim holds what its peers hold in every hole the cut left."""
    c = h.cluster
    ok = True
    for name, (_, _, _, holes, _) in cut.items():
        folder = os.path.join(c.data_dir(node), name)
        peers = [os.path.join(c.data_dir(j), name) for j in c.ids if j != node]
        for start, end in holes:
            if any(corrupt.same_batches(folder, o, start, end - 1) for o in peers if os.path.isdir(o)):
                h.note(fault, f"node {node} {name}: the hole [{start}, {end}) the cut left was refetched")
                continue
            h.say("FAIL", f"{fault}: node {node} {name}: the power cut left segment files with a hole at offsets "
                          f"[{start}, {end}) (a sealed segment cut short, a later segment present); after the "
                          f"restart the replica still lacks batches its peers hold there")
            ok = False
    return ok


def restart(h, fault, node, cut, what):
    import faults  # noqa: PLC0415 -- faults imports this module
    faults.restart_and_report(h, fault, node, what + "; " + describe(node, cut))
    return check_holes(h, fault, node, cut)


def f12(h, rng, k, variant):
    c = h.cluster
    p = rng.randrange(h.partitions)
    leader = h.leader_of(p)
    victim = leader if variant == "leader" else rng.choice([i for i in c.ids if i != leader])
    led = {q for q, pm in h.metadata().items() if pm.leader == victim}
    t = time.time()
    cut = power_cut(h, [victim])[victim]
    if led:
        h.availability.append((t, led))
    off = rng.choice([1.0, h.session_timeout_s + 1.5])
    h.log(f"F12 {variant}: power cut on node {victim} (leader of {sorted(led)}), back after {off}s: "
          f"{describe(victim, cut)}")
    time.sleep(off)
    return restart(h, "F12", victim, cut, f"{variant}: node {victim}, {mode(h)} mode, power back after {off}s")


def f13(h, rng, k, variant):
    c = h.cluster
    victim = rng.choice(c.ids)
    if variant == "pause-kill":
        c.pause(victim)
        h.log(f"F13 pause-kill: SIGSTOP node {victim}")
        time.sleep(h.session_timeout_s + 1)
        c.resume(victim)
        catch_up = rng.uniform(0.5, 2.0)
        time.sleep(catch_up)
        what = f"pause-kill: node {victim} paused {h.session_timeout_s + 1:.0f}s, running {catch_up:.1f}s, power cut"
    else:
        peer = rng.choice([i for i in c.ids if i != victim])
        c.pause(peer)
        h.log(f"F13 pause-peer: SIGSTOP node {peer}")
        time.sleep(h.session_timeout_s + 1)
        c.resume(peer)
        gap = rng.uniform(0.0, 1.0)
        time.sleep(gap)
        what = (f"pause-peer: node {peer} paused {h.session_timeout_s + 1:.0f}s, {gap:.1f}s after its SIGCONT "
                f"power cut on node {victim}")
    t = time.time()
    led = {q for q, pm in h.metadata().items() if pm.leader == victim}
    cut = power_cut(h, [victim])[victim]
    if led:
        h.availability.append((t, led))
    h.log(f"F13 {what}: {describe(victim, cut)}")
    time.sleep(1)
    return restart(h, "F13", victim, cut, f"{what} ({mode(h)} mode)")


def f15(h, rng, k, variant):
    c = h.cluster
    t = time.time()
    # What was acknowledged before the cut must survive it (fsync mode): per partition of the
    # topic, the highest acknowledged offset.
    acked = {}
    for p, o, _, at in h.workload.acked_since(0):
        if at < t:
            acked[p] = max(acked.get(p, -1), o)
    cuts = power_cut(h, list(c.ids))
    off = rng.uniform(1.0, 2.0)
    h.log(f"F15: power cut on every node, back after {off:.1f}s: " +
          "; ".join(describe(i, cut) for i, cut in cuts.items()))
    ends = {}
    for i in c.ids:
        for p in range(h.partitions):
            folder = os.path.join(c.data_dir(i), f"{h.topic}-{p}")
            ends.setdefault(p, {})[i] = log_end_and_holes(partition_shape(folder))[0]
    time.sleep(off)
    positions = {i: c.log_size(i) for i in c.ids}
    c.start_all()
    healthy = h.wait_healthy("F15 (every node restarted)")
    ok = True
    summary = ", ".join(f"{h.topic}-{p}: acked to {acked.get(p, -1)}, kept {ends[p]}" for p in sorted(ends))
    h.note("F15", f"{mode(h)} mode, power back after {off:.1f}s; " + summary + "; " +
           "; ".join(describe(i, cut) for i, cut in cuts.items()))
    lost = {p: a for p, a in acked.items() if max(ends[p].values()) <= a}
    if lost:
        h.say("FAIL", f"F15: after the power cut of every node no node kept the acknowledged writes of "
                      f"{sorted(lost)} ({summary}; {mode(h)} mode)")
        ok = False
    for i in c.ids:
        said = [l for l in c.log_since(i, positions[i]).splitlines() if " WARN " in l or " ERROR " in l]
        if said:
            h.note("F15", f"node {i} warned {len(said)} times after the restart, first: {said[0][:240]}")
        ok = check_holes(h, "F15", i, cuts[i]) and ok
    return ok and healthy
