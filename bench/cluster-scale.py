#!/usr/bin/env python3
"""bench/cluster-scale.py -- a 3-node cluster holding many partitions (replication factor 3),
Runnel beside Apache Kafka 4.4.0 on this machine: the time to create them, a node's restart to a
full ISR, a controller failover, and the brokers' memory.

What this script owns: the procedure. One cluster at a time (the other is not running), each
three combined broker+controller processes on 127.0.0.1 with fresh temp dirs; Kafka with
compat/kafka-tools.sh's 4.4.0 jars, formatted with kafka-storage. For each cluster:
  create     TOPICS topics of PARTITIONS/TOPICS partitions each, RF 3, one CreateTopics each, all
             sent at once; the time until Metadata shows every partition with a leader and 3
             in-sync replicas.
  rss        the sum of the three processes' resident memory then (and each one).
  restart    node 2 is stopped with SIGTERM (waited for) and started again; the time from the
             start until every partition has 3 in-sync replicas again.
  failover   the active controller's process is SIGKILLed; the time until DescribeCluster names
             another controller and a new topic can be created (metadata writes work again).
Prints a Markdown table (medians when REPS > 1) and writes it to OUT/table.md.

Usage (by hand, not by ./test.sh):
  ~/.cache/runnel/py-compat/bin/python bench/cluster-scale.py [--partitions 10000] [--topics 10]
      [--reps 1] [--runnel target/release/runnel] [--kafka-heap 2g] [--only runnel|kafka]
Loopback only; every process started is stopped at exit.
"""
import argparse
import atexit
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from confluent_kafka.admin import AdminClient, NewTopic

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(REPO, "compat", "kafka-tools.sh")
PROCS = []


def port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def stop_all():
    for p in PROCS:
        if p.poll() is None:
            p.kill()
            p.wait()


atexit.register(stop_all)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


class Node:
    def __init__(self, cluster, i):
        self.cluster, self.i = cluster, i
        self.proc = None

    def start(self):
        c = self.cluster
        log = open(os.path.join(c.dir, f"node-{self.i}.log"), "ab")
        if c.kind == "runnel":
            cmd = [c.args.runnel, "serve"]
            for k, v in c.props(self.i).items():
                cmd += ["--override", f"{k}={v}"]
            env = dict(os.environ, RUNNEL_LOG="warn")
        else:
            cmd = ["java", f"-Xmx{c.args.kafka_heap}", f"-Xms{c.args.kafka_heap}", "-XX:+UseG1GC",
                   f"-Dlog4j2.configurationFile={c.kt_home}/log4j2.properties", "-cp", c.classpath,
                   "kafka.Kafka", c.properties_file(self.i)]
            env = dict(os.environ)
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env, start_new_session=True)
        PROCS.append(self.proc)

    def rss_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0


class Cluster:
    def __init__(self, kind, args):
        self.kind, self.args = kind, args
        self.dir = tempfile.mkdtemp(prefix=f"runnel-scale-{kind}.")
        self.client = {i: port() for i in (1, 2, 3)}
        self.controller = {i: port() for i in (1, 2, 3)}
        self.nodes = {i: Node(self, i) for i in (1, 2, 3)}
        self.bootstrap = ",".join(f"127.0.0.1:{self.client[i]}" for i in (1, 2, 3))
        if kind == "kafka":
            self.kt_home = subprocess.run(["bash", "-c", f"source {TOOLS}; kt_install >&2 && echo $KT_HOME"],
                                          capture_output=True, text=True, check=True).stdout.strip()
            self.classpath = subprocess.run([TOOLS, "classpath"], capture_output=True, text=True,
                                            check=True).stdout.strip()

    def props(self, i):
        return {
            "node.id": str(i),
            "process.roles": "broker,controller",
            "controller.quorum.voters": ",".join(f"{j}@127.0.0.1:{self.controller[j]}" for j in (1, 2, 3)),
            "listeners": f"PLAINTEXT://127.0.0.1:{self.client[i]},CONTROLLER://127.0.0.1:{self.controller[i]}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": os.path.join(self.dir, f"data-{i}"),
            "offsets.topic.replication.factor": "3",
        }

    def properties_file(self, i):
        path = os.path.join(self.dir, f"server-{i}.properties")
        if not os.path.exists(path):
            with open(path, "w") as f:
                for k, v in self.props(i).items():
                    f.write(f"{k}={v}\n")
        return path

    def start(self):
        if self.kind == "kafka":
            cid = subprocess.run([TOOLS, "run", "kafka.tools.StorageTool", "random-uuid"],
                                 capture_output=True, text=True, check=True).stdout.split()[-1]
            for i in (1, 2, 3):
                subprocess.run([TOOLS, "run", "kafka.tools.StorageTool", "format", "-t", cid, "-c",
                                self.properties_file(i)], capture_output=True, check=True)
        for node in self.nodes.values():
            node.start()
        self.admin = AdminClient({"bootstrap.servers": self.bootstrap})
        wait(lambda: len(self.admin.list_topics(timeout=5).brokers) == 3, 120, "three brokers")

    def full(self, topics, per_topic):
        """Whether every partition of `topics` has a leader and 3 in-sync replicas."""
        md = self.admin.list_topics(timeout=30)
        for t in topics:
            tm = md.topics.get(t)
            if tm is None or tm.error is not None or len(tm.partitions) != per_topic:
                return False
            if any(p.leader < 0 or len(p.isrs) != 3 for p in tm.partitions.values()):
                return False
        return True

    def controller_id(self, alive=(1, 2, 3)):
        """The active controller: DescribeQuorum's leader (kafka-python's admin client). Metadata's
        controller id will not do: Kafka names a random live broker there, and librdkafka keeps
        the one it first heard of."""
        from kafka.admin import KafkaAdminClient
        client = KafkaAdminClient(bootstrap_servers=[f"127.0.0.1:{self.client[i]}" for i in alive],
                                  request_timeout_ms=5000)
        try:
            quorum = client.describe_metadata_quorum()
        finally:
            client.close()
        return quorum["topics"][0]["partitions"][0]["leader_id"]


def wait(check, bound, what, pause=0.5):
    end = time.time() + bound
    last = None
    while time.time() < end:
        try:
            if check():
                return True
        except Exception as e:  # noqa: BLE001 -- a node may be away: retried until the bound
            last = e
        time.sleep(pause)
    raise RuntimeError(f"timed out after {bound}s waiting for {what} (last error: {last!r})")


def measure(kind, args, rep):
    c = Cluster(kind, args)
    c.start()
    per_topic = args.partitions // args.topics
    topics = [f"scale-{rep}-{t}" for t in range(args.topics)]
    t0 = time.time()
    # One request per topic, all sent at once: Kafka's controller refuses a request over 10,000
    # records (POLICY_VIOLATION, "excessively large batch operation").
    futures = [c.admin.create_topics([NewTopic(t, per_topic, 3)], request_timeout=600)[t] for t in topics]
    for f in futures:
        f.result(timeout=900)
    wait(lambda: c.full(topics, per_topic), 1800, "every partition fully replicated", pause=1)
    create_s = time.time() - t0
    time.sleep(5)
    rss = {i: n.rss_mb() for i, n in c.nodes.items()}

    node = c.nodes[2]
    node.proc.terminate()
    node.proc.wait(timeout=600)
    t0 = time.time()
    node.start()
    wait(lambda: c.full(topics, per_topic), 1800, "a full ISR after the restart", pause=1)
    restart_s = time.time() - t0

    before = c.controller_id()
    victim = c.nodes[before]
    victim.proc.kill()
    victim.proc.wait()
    t0 = time.time()
    alive = [i for i in (1, 2, 3) if i != before]

    def metadata_writes():
        # A new client each time: librdkafka keeps the controller its first Metadata named.
        admin = AdminClient({"bootstrap.servers": ",".join(f"127.0.0.1:{c.client[i]}" for i in alive)})
        admin.list_topics(timeout=5)
        futures = admin.create_topics([NewTopic(f"after-failover-{time.time_ns()}", 1, 2)],
                                      request_timeout=2)
        list(futures.values())[0].result(timeout=5)
        return True
    wait(metadata_writes, 300, "a new active controller taking metadata writes", pause=0.1)
    failover_s = time.time() - t0
    # kafka-python's admin client may try the dead node first: retried.
    wait(lambda: c.controller_id(alive) not in (None, -1, before), 120, "DescribeQuorum to name a new leader")
    for n in c.nodes.values():
        if n.proc.poll() is None:
            n.proc.terminate()
    for n in c.nodes.values():
        try:
            n.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            n.proc.kill()
    result = {"create_s": create_s, "restart_s": restart_s, "failover_s": failover_s,
              "rss_mb": sum(rss.values()), "rss_each": rss}
    print(f"{kind} rep {rep}: {result}", flush=True)
    subprocess.run(["rm", "-rf", c.dir])
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--partitions", type=int, default=10000)
    parser.add_argument("--topics", type=int, default=10)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--runnel", default=os.path.join(REPO, "target", "release", "runnel"))
    parser.add_argument("--kafka-heap", default="2g")
    parser.add_argument("--only", choices=["runnel", "kafka"])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="runnel-scale-bench.")
    kinds = [args.only] if args.only else ["runnel", "kafka"]
    results = {k: [] for k in kinds}
    for rep in range(1, args.reps + 1):
        for kind in (kinds if rep % 2 else list(reversed(kinds))):
            results[kind].append(measure(kind, args, rep))
    med = {k: {m: statistics.median(r[m] for r in rs) for m in ("create_s", "restart_s", "failover_s", "rss_mb")}
           for k, rs in results.items()}
    lines = [f"| 3 nodes, {args.partitions} partitions (RF 3) | " + " | ".join(
        "Runnel" if k == "runnel" else "Kafka 4.4.0" for k in kinds)
        + (" | Kafka / Runnel |" if len(kinds) == 2 else " |"),
        "|---|" + "---|" * (len(kinds) + (1 if len(kinds) == 2 else 0))]
    for m, label in (("create_s", "create, to a full ISR (s)"), ("restart_s", "a node's restart to a full ISR (s)"),
                     ("failover_s", "controller failover to metadata writes (s)"), ("rss_mb", "RSS of the three brokers (MB)")):
        row = f"| {label} | " + " | ".join(f"{med[k][m]:.1f}" for k in kinds)
        if len(kinds) == 2:
            row += f" | {med['kafka'][m] / med['runnel'][m]:.2f}"
        lines.append(row + " |")
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(table + "\n")
    print(f"results: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
