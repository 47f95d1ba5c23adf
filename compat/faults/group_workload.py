"""compat/faults/group_workload.py -- consumer-group members for faults F23 (consumer bounces) and F24
(group coordinator failover), and the group checks.

Three members of group `faults-group` subscribe to topic `faults` (classic protocol, eager
`range` assignment, session.timeout.ms 6000), each a process of its own (`python
group_workload.py member ...`) so that a bounce can be a real crash (SIGKILL) or a clean leave
(SIGTERM: close(), LeaveGroup for dynamic members). A member writes, to a file per incarnation,
every assignment (`A p,p`), revocation (`R ...`), record (`M p o v`), acknowledged commit
(`C p:o ...`) and failed commit (`E ERROR p:o ...`); it flushes the file before each synchronous commit (every second and on
revocation), so whatever its commits cover is in the file even after a SIGKILL. Members are
dynamic or static (group.instance.id) depending on the F23 variant; they exit on their own past
their bound or when the harness is gone, and Cluster.destroy() kills them on every exit path.

The harness side (GroupWorkload) starts and bounces members, watches the group's committed
offsets once a second (OffsetFetch through a non-member consumer) and, after the producer has
stopped, judges (reliability.md's G and O columns, Jepsen's names where they exist):
  group.committed-monotonic   a partition's committed offset never went backwards; each time it
                              did, whether the higher offset had been acknowledged to the member
                              that committed it (if not, OffsetFetch served a commit that was not
                              durable yet: a dirty read)
  group.lag                   committed offsets reached the high watermarks within session
                              timeout + 30 s after the last fault and the producer's end
  group.unseen                an acknowledged write no member ever received
  group.inconsistent-offsets  a member saw another value at an offset than the final read
  group.nonmonotonic-poll /   within one assignment of one member incarnation, a partition's
  group.poll-skip             offsets went backwards / jumped over offsets (Jepsen allows both
                              only across assignments, with subscribe)
"""
import os
import signal
import subprocess
import sys
import threading
import time

GROUP = "faults-group"
TOPIC = "faults"
PARTITIONS = 3
SESSION_TIMEOUT_MS = 6000
MEMBERS = 3


def member(bootstrap, out_path, instance, bound):
    from confluent_kafka import Consumer, KafkaException, TopicPartition
    parent = os.getppid()
    out = open(out_path, "a", buffering=1 << 16)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    config = {
        "bootstrap.servers": bootstrap, "group.id": GROUP, "enable.auto.commit": False,
        "auto.offset.reset": "earliest", "session.timeout.ms": SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": 1000, "max.poll.interval.ms": 60000,
        "partition.assignment.strategy": "range", "topic.metadata.refresh.interval.ms": 1000,
    }
    if instance != "-":
        config["group.instance.id"] = instance
    consumer = Consumer(config)
    positions = {}

    def commit(parts=None):
        parts = [p for p in positions if parts is None or p in parts]
        if not parts:
            return
        out.flush()
        offsets = [TopicPartition(TOPIC, p, positions[p]) for p in sorted(parts)]
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
            out.write("C " + " ".join(f"{p}:{positions[p]}" for p in sorted(parts)) + "\n")
        except KafkaException as e:
            out.write(f"E commit {e.args[0].name() if e.args else e} "
                      + " ".join(f"{p}:{positions[p]}" for p in sorted(parts)) + "\n")
        out.flush()

    def assigned(_, parts):
        out.write("A " + ",".join(str(p.partition) for p in parts) + "\n")
        out.flush()

    def revoked(_, parts):
        commit({p.partition for p in parts})
        for p in parts:
            positions.pop(p.partition, None)
        out.write("R " + ",".join(str(p.partition) for p in parts) + "\n")
        out.flush()

    def lost(_, parts):
        for p in parts:
            positions.pop(p.partition, None)
        out.write("R " + ",".join(str(p.partition) for p in parts) + " lost\n")
        out.flush()

    consumer.subscribe([TOPIC], on_assign=assigned, on_revoke=revoked, on_lost=lost)
    end = time.time() + bound
    last_commit = time.time()
    while not stop and time.time() < end and os.getppid() == parent:
        for m in consumer.consume(500, 0.3):
            if m.error() is None:
                out.write(f"M {m.partition()} {m.offset()} {m.value().decode()}\n")
                positions[m.partition()] = m.offset() + 1
        if time.time() - last_commit >= 1:
            commit()
            last_commit = time.time()
    commit()
    consumer.close()
    out.write("X\n")
    out.close()


class GroupWorkload:
    def __init__(self, cluster, log, work):
        self.cluster = cluster
        self.log = log
        self.dir = os.path.join(work, "group")
        os.makedirs(self.dir, exist_ok=True)
        self.procs = {}       # slot -> Popen
        self.files = {}       # slot -> current file
        self.all_files = []
        self.static = {}
        self.incarnation = 0
        self.committed = []   # (time, partition, offset) seen by the watcher
        self.backwards = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.watch, daemon=True)

    def start(self, bound):
        self.bound = bound
        for slot in range(MEMBERS):
            self.start_member(slot, static=False)
        self.thread.start()

    def start_member(self, slot, static):
        self.incarnation += 1
        path = os.path.join(self.dir, f"member-{slot}-{self.incarnation}.txt")
        instance = f"faults-member-{slot}" if static else "-"
        with open(os.path.join(self.dir, "members.log"), "ab") as errors:
            proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "member",
                                     self.cluster.bootstrap(), path, instance, str(int(self.bound))],
                                    stdout=errors, stderr=errors)
        self.cluster.adopt(proc)
        self.procs[slot], self.files[slot], self.static[slot] = proc, path, static
        self.all_files.append(path)

    def kill_member(self, slot):
        proc = self.procs[slot]
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)

    def stop_member(self, slot, timeout=30):
        """SIGTERM (commit, close, LeaveGroup); the exit status, None when it had to be killed."""
        proc = self.procs[slot]
        if proc.poll() is not None:
            return proc.returncode
        proc.terminate()
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
            return None

    def assignments(self):
        """slot -> set of partitions it holds now (None: it holds nothing settled)."""
        out = {}
        for slot, path in self.files.items():
            if self.procs[slot].poll() is not None:
                continue
            state = None
            try:
                with open(path) as f:
                    for line in f:
                        if line.startswith("A "):
                            state = {int(p) for p in line[2:].split(",") if p.strip()}
                        elif line.startswith("R "):
                            state = None
            except OSError:
                pass
            out[slot] = state
        return out

    def assignment_count(self):
        """Assignments received so far by every member incarnation (rebalances seen)."""
        n = 0
        for path in self.all_files:
            try:
                with open(path) as f:
                    n += sum(1 for line in f if line.startswith("A "))
            except OSError:
                pass
        return n

    def stable(self):
        a = self.assignments()
        if len(a) < MEMBERS or any(s is None for s in a.values()):
            return False
        held = [p for s in a.values() for p in s]
        return sorted(held) == list(range(PARTITIONS))

    def wait_stable(self, bound):
        end = time.time() + bound
        while time.time() < end:
            if self.stable():
                return True
            time.sleep(0.3)
        return False

    def watch(self):
        from confluent_kafka import Consumer, TopicPartition
        consumer = Consumer({"bootstrap.servers": self.cluster.bootstrap(), "group.id": GROUP,
                             "enable.auto.commit": False})
        highest = {}
        while not self.stop.is_set():
            try:
                parts = consumer.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=5)
                now = time.time()
                for tp in parts:
                    if tp.error is None and tp.offset >= 0:
                        with self.lock:
                            self.committed.append((now, tp.partition, tp.offset))
                            if tp.offset < highest.get(tp.partition, -1):
                                self.backwards.append((tp.partition, highest[tp.partition], tp.offset, now))
                                self.log(f"group: committed offset of {TOPIC}-{tp.partition} went back "
                                         f"from {highest[tp.partition]} to {tp.offset}")
                            highest[tp.partition] = max(highest.get(tp.partition, -1), tp.offset)
            except Exception as e:  # noqa: BLE001 -- a failed poll is retried
                self.log(f"group watch: {e}")
            self.stop.wait(1.0)
        consumer.close()

    def latest_committed(self):
        with self.lock:
            out = {}
            for _, p, o in self.committed:
                out[p] = max(out.get(p, -1), o)
            return out

    def caught_up_at(self, highs):
        """When the watcher first saw every partition's committed offset at its high watermark."""
        with self.lock:
            seen = sorted(self.committed)
        latest = {}
        for t, p, o in seen:
            latest[p] = max(latest.get(p, -1), o)
            if all(latest.get(q, -1) >= h for q, h in highs.items()):
                return t
        return None

    def wait_caught_up(self, highs, since, bound):
        """Seconds from `since` (the producer's end) until every partition's committed offset was
        seen at its high watermark, waiting until `since` + `bound`; None when it was not."""
        while True:
            at = self.caught_up_at(highs)
            if at is not None:
                return max(0.0, at - since)
            if time.time() > since + bound:
                return None
            time.sleep(0.5)

    def finish(self):
        for slot in list(self.procs):
            self.stop_member(slot)
        self.stop.set()
        self.thread.join(timeout=30)

    def commits(self):
        """{(partition, offset): 'acknowledged' | 'failed'} over every member's commits."""
        out = {}
        for path in self.all_files:
            try:
                with open(path) as f:
                    for line in f:
                        if line.startswith(("C ", "E ")):
                            outcome = "acknowledged" if line[0] == "C" else "failed"
                            for item in line.split()[1:]:
                                p, _, o = item.partition(":")
                                if p.isdigit() and o.isdigit():
                                    if out.get((int(p), int(o))) != "acknowledged":
                                        out[(int(p), int(o))] = outcome
            except OSError:
                pass
        return out

    def history(self):
        """Every record a member received: [(file, segment, p, o, v)] (segment: assignment count
        within that incarnation), and the number of assignments and commit errors."""
        polls, assignments, errors = [], 0, 0
        for path in self.all_files:
            segment = 0
            try:
                with open(path) as f:
                    for line in f:
                        if line.startswith("M "):
                            parts = line.split(" ", 3)
                            if len(parts) == 4 and line.endswith("\n"):
                                polls.append((path, segment, int(parts[1]), int(parts[2]), parts[3][:-1]))
                        elif line.startswith("A "):
                            segment += 1
                            assignments += 1
                        elif line.startswith("E "):
                            errors += 1
            except OSError:
                pass
        return polls, assignments, errors


def check(polls, acked, final):
    """The group's anomalies: unseen, inconsistent-offsets, nonmonotonic-poll, poll-skip."""
    at = {(p, o): v for p, o, v in final}
    received = {v for _, _, _, _, v in polls}
    unseen = [(p, o, v) for p, o, v in acked if v not in received]
    inconsistent = sorted({(p, o, v, at.get((p, o))) for _, _, p, o, v in polls if at.get((p, o)) != v})
    last = {}
    nonmonotonic, skip = [], []
    for path, segment, p, o, _ in polls:
        key = (path, segment, p)
        if key in last:
            if o <= last[key]:
                nonmonotonic.append((os.path.basename(path), p, last[key], o))
            elif o > last[key] + 1:
                skip.append((os.path.basename(path), p, last[key], o))
        last[key] = o
    return {"unseen": unseen, "inconsistent-offsets": inconsistent,
            "nonmonotonic-poll": nonmonotonic, "poll-skip": skip}


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "member":
        member(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
    else:
        print("usage: group_workload.py member BOOTSTRAP OUT_FILE INSTANCE_ID|- BOUND_SECONDS", file=sys.stderr)
        sys.exit(2)
