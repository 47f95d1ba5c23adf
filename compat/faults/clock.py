"""compat/faults/clock.py -- F10: wall-clock jumps on one node, through libfaketime.

Every node starts with libfaketime preloaded (when the library is installed; ./test.sh installs
Debian's `libfaketime`), reading the offset of its clock from a file of its own that the library
reads again every second (FAKETIME_CACHE_DURATION=1). Only the wall clock (CLOCK_REALTIME) moves:
FAKETIME_DONT_FAKE_MONOTONIC=1, as an NTP step or an operator's `date -s` moves the wall clock
and never the monotonic one. What Kafka keys on monotonic time (session timeouts, replica lag,
request and fetch waits) must not notice a jump; what Kafka keys on wall time (LogAppendTime,
time-based retention and rolls, transaction timeouts) follows the node's clock as Kafka's would.
The offset file holds libfaketime's relative form, `+300` or `-300` (seconds), `+0` when healed.

A probe before this was wired in (a node under the library, LogAppendTime topic, offsets written
to the file while producing) read record timestamps 295 s ahead after `+300` and 303 s behind
after `-300`: the Rust binary's wall clock follows the file, its monotonic clock does not.
"""
import os
import time

LIBRARIES = (
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1",
)


def library():
    """The multi-threaded libfaketime, or None when it is not installed."""
    return next((path for path in LIBRARIES if os.path.exists(path)), None)


def offset_file(work, i):
    return os.path.join(work, f"node-{i}.clock-offset")


def node_env(work, i):
    """Environment that puts node i's wall clock under its offset file (empty without the library)."""
    lib = library()
    if lib is None:
        return {}
    if not os.path.exists(offset_file(work, i)):
        set_offset(work, i, 0)
    return {
        "LD_PRELOAD": lib,
        "FAKETIME_TIMESTAMP_FILE": offset_file(work, i),
        "FAKETIME_CACHE_DURATION": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }


def set_offset(work, i, seconds):
    """Moves node i's wall clock to real time + seconds (atomically: the library may read any time)."""
    path = offset_file(work, i)
    with open(path + ".tmp", "w") as f:
        f.write(f"{'+' if seconds >= 0 else '-'}{abs(int(seconds))}\n")
    os.replace(path + ".tmp", path)


def f10(h, rng, k, variant):
    """F10: node's wall clock jumps `forward` or `backward` by 2-10 minutes (seeded), is held past
    the session timeout, then jumps back to real time (so each cycle jumps both ways). The victim
    is the consumer group's coordinator (the leader of a random partition of `faults` without
    the group), or, every other cycle, the active controller.
    Own checks: the victim neither exited nor re-registered with the controller (a broker fenced
    by a wall-clock jump would), and the group did not rebalance (its session timeouts are
    monotonic, as Kafka's)."""
    c = h.cluster
    if k % 2:
        victim, role = h.controller(), "active controller"
    elif h.group:
        victim, role = h.coordinator("faults-group", key_type=0), "group coordinator"
    else:
        victim, role = h.leader_of(rng.randrange(h.partitions)), "leader"
    seconds = rng.randint(120, 600) * (1 if variant == "forward" else -1)
    registrations = c.registrations(victim)
    # Rebalances still settling from the fault before must not count as this one's.
    if h.group:
        h.group.wait_stable(36)
    before = h.group.assignment_count() if h.group else 0
    clock_set = False
    try:
        set_offset(c.work, victim, seconds)
        clock_set = True
        h.log(f"F10 {variant}: node {victim} ({role}) wall clock {seconds:+d} s")
        time.sleep(h.session_timeout_s + 3)
    finally:
        if clock_set:
            set_offset(c.work, victim, 0)
    time.sleep(2)
    rebalances = (h.group.assignment_count() - before) if h.group else 0
    again = c.registrations(victim) - registrations
    alive = c.alive(victim)
    h.note("F10", f"{variant}: node {victim} ({role}) wall clock {seconds:+d} s for "
                  f"{h.session_timeout_s + 3:.0f} s, then back: group assignments meanwhile {rebalances}, "
                  f"re-registrations {again}")
    problems = []
    if not alive:
        problems.append(f"node {victim} exited")
    if again:
        problems.append(f"node {victim} registered with the controller again {again}x (fenced by a clock jump)")
    if rebalances:
        problems.append(f"the group rebalanced {rebalances}x")
    if problems:
        h.say("FAIL", f"F10:{variant}: {'; '.join(problems)}")
    return not problems
