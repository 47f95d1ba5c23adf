"""compat/faults/disk.py -- F18 (a failing disk: EIO, a full disk) and F19 (a slow disk).

Mechanism: diskfault.c, an LD_PRELOAD library built here with the system's C compiler into the
work folder, preloaded into every node when F18 or F19 is selected (cluster.py). It stands
between the broker and the C library's write and sync calls for the files under the node's
data folder, except the metadata quorum's `__cluster_metadata` (Kafka keeps that on its own
metadata log directory, and a failed metadata directory stops a Kafka broker), and obeys a
control file per node (`node-i.disk-fault`), read again every 100 ms: `off`, `eio`, `enospc` or
`slow <sync_ms> <write_ms>`. The broker binary is the one users run; it sees what a failing disk
returns. Why not a real full filesystem: a loop or tmpfs mount per node needs privileges the
nested test machines may not grant, and would fill the metadata log as well.

F18 variants `eio` (writes and syncs fail with EIO) and `full` (writes fail with ENOSPC), on
    the leader of a random partition of `faults`: the broker must take the log offline, report
    its log directory failed to the controller and stay up; the controller moves leadership
    away and takes it out of every ISR (Kafka: `log_dir_failure_test`, KAFKA_STORAGE_ERROR to
    clients meanwhile). Checked within 30 s: the victim leads no partition of `faults` and is in
    none of their ISRs, it is alive and did not register again, and its log says the log
    directory failed. Then the disk is mended and the victim restarted (a failed directory
    comes back only with a restart, as in Kafka); the harness waits for a full ISR.
F19 variants `leader` and `follower`: the node's syncs take 1.5-3 s and each write 20-80 ms
    (seeded) for 5 s, then the disk is fast again. Checked: the victim stays alive and is not
    fenced (no new registration: a slow disk must not stop its heartbeats), and the cluster
    heals to a full ISR without a restart. No write may be lost (the run's checker).
"""
import os
import shutil
import subprocess
import time

HOLD_S = 5    # F19's slow spell: two or three slow syncs in a row
SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "diskfault.c")


def library_path(work):
    return os.path.join(work, "diskfault.so")


def build(work):
    """Compiles diskfault.c into the work folder. Returns None, or why it cannot."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return "no C compiler (cc) to build the disk-fault library"
    out = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", library_path(work), SOURCE,
                          "-ldl", "-lpthread"], capture_output=True, text=True)
    if out.returncode != 0:
        return f"building diskfault.c failed: {out.stderr.strip()[-300:]}"
    return None


def control_file(work, i):
    return os.path.join(work, f"node-{i}.disk-fault")


def set_mode(work, i, mode):
    """Node i's disk from now on (atomically: the library reads the file at any time)."""
    path = control_file(work, i)
    with open(path + ".tmp", "w") as f:
        f.write(mode + "\n")
    os.replace(path + ".tmp", path)


def node_env(work, i, data_dir):
    """The environment that puts node i's data folder under its control file, healthy."""
    set_mode(work, i, "off")
    return {
        "RNL_DISKFAULT_CONTROL": control_file(work, i),
        "RNL_DISKFAULT_PREFIX": os.path.abspath(data_dir) + os.sep,
        "RNL_DISKFAULT_EXCLUDE": f"{os.sep}__cluster_metadata{os.sep}",
    }, library_path(work)


def out_of_every_isr(h, victim, bound):
    """Waits until `victim` leads no partition of the topic and is in none of its ISRs, each
    partition led by another node. Returns (done, the last view)."""
    end = time.time() + bound
    last = None
    while time.time() < end:
        try:
            parts = h.metadata()
            last = {p: (pm.leader, sorted(pm.isrs)) for p, pm in parts.items()}
            if all(pm.leader >= 1 and pm.leader != victim and victim not in pm.isrs
                   for pm in parts.values()):
                return True, last
        except Exception as e:  # noqa: BLE001
            last = str(e)
        time.sleep(0.3)
    return False, last


def f18(h, rng, k, variant):
    c = h.cluster
    victim = h.leader_of(rng.randrange(h.partitions))
    registrations = c.registrations(victim)
    position = c.log_size(victim)
    t = time.time()
    set_mode(c.work, victim, "eio" if variant == "eio" else "enospc")
    h.log(f"F18 {variant}: node {victim}'s data folder fails")
    out, last = out_of_every_isr(h, victim, 30)
    took = time.time() - t
    alive = c.alive(victim)
    again = c.registrations(victim) - registrations
    said = c.log_since(victim, position).count("log directory failed")
    set_mode(c.work, victim, "off")
    c.kill(victim)
    time.sleep(1)
    c.start(victim)
    h.note("F18", f"{variant}: node {victim}'s disk failed; "
                  + (f"out of every ISR and leading nothing after {took:.1f}s" if out
                     else f"still leading or in an ISR after {took:.0f}s: {last}")
                  + f"; alive {alive}, registrations meanwhile {again}, "
                  f"'log directory failed' logged {said}x; disk mended, node restarted")
    problems = []
    if not out:
        problems.append(f"node {victim} still leads or is in an ISR 30 s after its disk failed: {last}")
    if not alive:
        problems.append(f"node {victim} exited (it must stay up)")
    if again:
        problems.append(f"node {victim} registered again {again}x (fenced, not reported)")
    if not said:
        problems.append(f"node {victim}'s log does not say its log directory failed")
    if problems:
        h.say("FAIL", f"F18:{variant}: {'; '.join(problems)}")
    return not problems


def f19(h, rng, k, variant):
    c = h.cluster
    leader = h.leader_of(rng.randrange(h.partitions))
    victim = leader if variant == "leader" else rng.choice([i for i in c.ids if i != leader])
    sync_ms, write_ms = rng.randint(1500, 3000), rng.randint(20, 80)
    registrations = c.registrations(victim)
    set_mode(c.work, victim, f"slow {sync_ms} {write_ms}")
    h.log(f"F19 {variant}: node {victim}'s disk slow: syncs {sync_ms} ms, writes {write_ms} ms")
    try:
        time.sleep(HOLD_S)
    finally:
        set_mode(c.work, victim, "off")
    alive = c.alive(victim)
    again = c.registrations(victim) - registrations
    h.note("F19", f"{variant}: node {victim}: syncs {sync_ms} ms, writes {write_ms} ms for {HOLD_S} s; "
                  f"alive {alive}, registrations meanwhile {again}")
    problems = []
    if not alive:
        problems.append(f"node {victim} exited")
    if again:
        problems.append(f"node {victim} registered again {again}x (fenced by a slow disk)")
    if problems:
        h.say("FAIL", f"F19:{variant}: {'; '.join(problems)}")
    return not problems
