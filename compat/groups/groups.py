"""compat/groups/groups.py -- librdkafka (confluent-kafka) consumer groups against a running
broker. Part of the "groups" suite (compat/groups/run.sh).

    python groups.py BOOTSTRAP

Cases: eager.* (range assignor) and cooperative.* (cooperative-sticky): two members, then a
third, then one closes; ownership tracked in on_assign/on_revoke/on_lost (one lock; each member
polled by its own thread, and a record of a partition the table does not give to its consumer
is a violation): no_two_owners, stable_covers_all, none_skipped. static.no_rebalance: two
static members (group.instance.id); one closes and restarts within session.timeout.ms; the
other sees no revocation or assignment and the restarted one gets its partitions back.
"""
import sys
import threading
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

B = sys.argv[1]
PARTS = 4
lock = threading.Lock()


class Member(threading.Thread):
    def __init__(self, name, group, topic, table, violations, consumed, strategy, extra=None):
        super().__init__(daemon=True)
        self.name_, self.topic, self.table, self.violations, self.consumed = name, topic, table, violations, consumed
        self.cooperative = strategy == "cooperative-sticky"
        self.stop = threading.Event()
        self.events = []
        conf = {"bootstrap.servers": B, "group.id": group, "auto.offset.reset": "earliest",
                "enable.auto.commit": False, "partition.assignment.strategy": strategy,
                "session.timeout.ms": 10000, "heartbeat.interval.ms": 500}
        conf.update(extra or {})
        self.c = Consumer(conf)

    def take(self, c, parts):
        with lock:
            for p in parts:
                owner = self.table.get(p.partition)
                if owner not in (None, self.name_):
                    self.violations.append(f"{self.name_} got {p.partition} owned by {owner}")
                self.table[p.partition] = self.name_
        self.events.append(("assign", sorted(p.partition for p in parts)))
        if self.cooperative:
            c.incremental_assign(parts)
        else:
            c.assign(parts)

    def give(self, c, parts):
        try:
            c.commit(asynchronous=False)
        except Exception:
            pass
        with lock:
            for p in parts:
                if self.table.get(p.partition) == self.name_:
                    del self.table[p.partition]
        self.events.append(("revoke", sorted(p.partition for p in parts)))
        if self.cooperative:
            c.incremental_unassign(parts)
        else:
            c.unassign()

    def run(self):
        self.c.subscribe([self.topic], on_assign=self.take, on_revoke=self.give, on_lost=self.give)
        while not self.stop.is_set():
            msgs = self.c.consume(100, 0.2)
            for m in msgs:
                if m.error():
                    continue
                with lock:
                    if self.table.get(m.partition()) != self.name_:
                        self.violations.append(f"{self.name_} read {m.partition()}@{m.offset()} unowned")
                self.consumed.setdefault(m.partition(), set()).add(m.offset())
            if msgs:
                try:
                    self.c.commit(asynchronous=False)
                except Exception as e:
                    print(f"# {self.name_} commit: {e}", file=sys.stderr)

    def close(self):
        self.stop.set()
        self.join(30)
        self.c.close()


def create(topic):
    admin = AdminClient({"bootstrap.servers": B})
    admin.create_topics([NewTopic(topic, PARTS, 1)])[topic].result()


def report(ok, name, why):
    print(f"PASS {name}" if ok else f"FAIL {name}: {why}", flush=True)


def wait_for(cond, secs):
    end = time.time() + secs
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.2)
    return cond()


def membership(strategy, label):
    topic, group = f"rd-{label}", f"rd-{label}-group"
    create(topic)
    table, violations, consumed, produced = {}, [], {}, {}
    p = Producer({"bootstrap.servers": B, "linger.ms": 5})
    running = threading.Event()
    running.set()

    def delivered(err, m):
        if err is None:
            produced.setdefault(m.partition(), set()).add(m.offset())

    def produce():
        i = 0
        while running.is_set():
            p.produce(topic, value=str(i), partition=i % PARTS, on_delivery=delivered)
            p.poll(0)
            i += 1
            time.sleep(0.003)
        p.flush(30)

    pt = threading.Thread(target=produce, daemon=True)
    pt.start()
    members = [Member(f"m{i}", group, topic, table, violations, consumed, strategy) for i in range(2)]
    for m in members:
        m.start()
    time.sleep(6)
    third = Member("m2", group, topic, table, violations, consumed, strategy)
    third.start()
    members.append(third)
    time.sleep(6)
    members[0].close()
    stable = wait_for(lambda: len(table) == PARTS, 40)
    running.clear()
    pt.join()
    done = lambda: all(produced[k] <= consumed.get(k, set()) for k in produced)
    wait_for(done, 40)
    for m in members[1:]:
        m.close()
    report(not violations, f"{label}.no_two_owners", violations[:3])
    report(stable, f"{label}.stable_covers_all", f"{len(table)} of {PARTS} owned")
    missing = {k: len(v - consumed.get(k, set())) for k, v in produced.items()}
    report(done() and produced, f"{label}.none_skipped", missing)


def static():
    topic, group = "rd-static", "rd-static-group"
    create(topic)
    table, violations, consumed = {}, [], {}
    def member(i):
        return Member(f"s{i}", group, topic, table, violations, consumed, "range",
                      {"group.instance.id": f"instance-{i}"})
    a, b = member(0), member(1)
    a.start()
    b.start()
    stable = wait_for(lambda: len(table) == PARTS and a.events and b.events, 40)
    time.sleep(2)
    before_a = list(a.events)
    b_parts = sorted(k for k, v in table.items() if v == "s1")
    b.stop.set()
    b.join(30)
    b.c.close()  # a static member does not leave on close
    with lock:
        for k in [k for k, v in table.items() if v == "s1"]:
            del table[k]
    b2 = member(1)
    b2.start()
    back = wait_for(lambda: sorted(k for k, v in table.items() if v == "s1") == b_parts, 20)
    time.sleep(3)
    ok = stable and back and a.events == before_a
    report(ok, "static.no_rebalance",
           f"stable={stable} back={back} other member's callbacks after restart: {a.events[len(before_a):]}")
    a.close()
    b2.close()


membership("range", "eager")
membership("cooperative-sticky", "cooperative")
static()
