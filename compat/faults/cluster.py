"""compat/faults/cluster.py -- a 3-node Runnel cluster of real processes for the fault harness.

Owns: the network (a bridge `rnfK` with 10.199.K.1/24 in the root namespace and, for node i, a
namespace `rnf-K-i` holding one end of a veth pair as 10.199.K.(10+i)/24, where K is derived
from the harness's pid so that two runs never share names or addresses), the node processes
(`runnel serve`, combined broker and controller, listening on 9092/9093 inside their namespace),
their data folders WORK/node-i/data, logs WORK/node-i.log and sync journals
WORK/node-i.sync-journal (RNL_FAULTS_SYNC_JOURNAL: every fdatasync of a segment, for power.py's
power-loss faults; compacted to the last length of each existing file before each start), and
the faults applied to them:
SIGKILL, SIGTERM (clean stop, exit status returned), SIGSTOP/SIGCONT, wiping the data folder,
and packet filters inside a node's namespace: `block` drops what comes in from and/or goes out
to chosen peers (iptables INPUT/OUTPUT rules in the node's namespace only, so clients in the root
namespace still reach every node), `isolate` is `block` towards every other node both ways, and
`heal` flushes every rule and queueing discipline the harness put into a namespace. Helper
processes the faults start (netem.py's packet delayer, group_workload.py's consumers) are
registered with `adopt` and killed by `destroy`.

Where namespaces cannot be created (not root, no `ip`/`iptables`), the nodes run on 127.0.0.1
with distinct ports and network faults are unavailable (`can_isolate` is False; the harness
refuses them by name and leaves them out of its default rotation).

Everything created is removed by `Cluster.destroy()`, which the harness calls on every exit path;
deleting a namespace also deletes its iptables rules and queueing disciplines.
"""
import os
import shutil
import signal
import socket
import subprocess
import time

import clock
import disk
import power_loss

# Per run: names and a /24 of their own (interface names stay under 15 characters).
RUN = os.getpid() % 250 + 1
SUBNET = f"10.199.{RUN}"
BRIDGE = f"rnf{RUN}"


def ns_name(i):
    return f"rnf-{RUN}-{i}"


def veth_name(i):
    return f"rnv{RUN}x{i}"


def run(*args, check=True):
    return subprocess.run(list(args), check=check, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def namespaces_available():
    return capabilities()["namespaces"]


_CAPABILITIES = None


def capabilities():
    """What this machine can do, probed once in a throw-away namespace (nothing else is
    touched): `namespaces` (root, ip, iptables, a namespace can be made and filtered),
    `netem` (tc with the prio and netem queueing disciplines: the kernel may lack them, e.g.
    without module support) and `nfqueue` (iptables' statistic, mark, NFQUEUE and TEE
    extensions: netem.py's user-space fallback). Each probe is bounded."""
    global _CAPABILITIES
    if _CAPABILITIES is not None:
        return _CAPABILITIES
    caps = {"namespaces": False, "netem": False, "nfqueue": False, "why": ""}
    _CAPABILITIES = caps
    if os.geteuid() != 0:
        caps["why"] = "not root"
        return caps
    missing = [t for t in ("ip", "iptables") if shutil.which(t) is None]
    if missing:
        caps["why"] = f"{' and '.join(missing)} not installed"
        return caps
    probe = f"rnf-probe-{os.getpid()}"

    def ok(*args):
        try:
            return subprocess.run(["ip", "netns", "exec", probe, *args], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, timeout=20).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False
    try:
        run("ip", "netns", "add", probe)
    except (subprocess.CalledProcessError, OSError) as e:
        caps["why"] = f"cannot create a network namespace ({e})"
        return caps
    try:
        caps["namespaces"] = ok("iptables", "-A", "INPUT", "-s", "10.199.0.1", "-j", "DROP")
        if not caps["namespaces"]:
            caps["why"] = "iptables does not work inside a namespace"
        ok("ip", "link", "set", "lo", "up")
        caps["netem"] = shutil.which("tc") is not None and ok(
            "tc", "qdisc", "add", "dev", "lo", "root", "handle", "1:", "prio", "bands", "4") and ok(
            "tc", "qdisc", "add", "dev", "lo", "parent", "1:4", "handle", "40:", "netem", "delay", "1ms")
        caps["nfqueue"] = caps["namespaces"] and all([
            ok("iptables", "-A", "OUTPUT", "-d", "10.199.0.1", "-m", "mark", "!", "--mark", "0x9",
               "-m", "statistic", "--mode", "random", "--probability", "0.5", "-j", "NFQUEUE",
               "--queue-num", "9", "--queue-bypass"),
            ok("iptables", "-t", "mangle", "-A", "POSTROUTING", "-d", "10.199.0.1", "-j", "TEE",
               "--gateway", "10.199.0.1"),
        ])
    finally:
        run("ip", "netns", "del", probe, check=False)
    return caps


class Cluster:
    def __init__(self, runnel, work, nodes=3, settings=None, use_namespaces=True, log=print,
                 node_settings=None):
        self.runnel = runnel
        self.work = work
        self.ids = list(range(1, nodes + 1))
        self.settings = dict(settings or {})
        # Settings of one node (node id -> dict), over `settings`: racks, HTTP ports.
        self.node_settings = node_settings or (lambda i: {})
        self.log = log
        self.namespaces = use_namespaces and namespaces_available()
        self.procs = {}
        self.fake_clock = False  # set by the harness when F10 runs (clock.py)
        self.disk_faults = False  # set by the harness when F18 or F19 runs (disk.py)
        # A dynamic controller quorum (KIP-853, quorum.py): bootstrap servers instead of
        # controller.quorum.voters; node 1 is formatted standalone before its first start.
        self.dynamic_quorum = False
        self.formed = False
        self.expected_registrations = {}
        self.stopped = set()
        self.isolated = set()    # namespaces holding rules or queueing disciplines of a fault
        self.helpers = []        # processes a fault started: killed by destroy()
        if self.namespaces:
            self.hosts = {i: f"{SUBNET}.{10 + i}" for i in self.ids}
            self.client_ports = {i: 9092 for i in self.ids}
            self.controller_ports = {i: 9093 for i in self.ids}
        else:
            self.hosts = {i: "127.0.0.1" for i in self.ids}
            self.client_ports = {i: free_port() for i in self.ids}
            self.controller_ports = {i: free_port() for i in self.ids}

    @property
    def can_isolate(self):
        return self.namespaces

    def bootstrap(self):
        return ",".join(f"{self.hosts[i]}:{self.client_ports[i]}" for i in self.ids)

    def address(self, i):
        return f"{self.hosts[i]}:{self.client_ports[i]}"

    # -- network --------------------------------------------------------------------------
    def setup_network(self):
        if not self.namespaces:
            return
        self.teardown_network()
        run("ip", "link", "add", BRIDGE, "type", "bridge")
        run("ip", "addr", "add", f"{SUBNET}.1/24", "dev", BRIDGE)
        run("ip", "link", "set", BRIDGE, "up")
        for i in self.ids:
            ns, veth = ns_name(i), veth_name(i)
            run("ip", "netns", "add", ns)
            run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            run("ip", "link", "set", veth, "master", BRIDGE)
            run("ip", "link", "set", veth, "up")
            run("ip", "netns", "exec", ns, "ip", "addr", "add", f"{self.hosts[i]}/24", "dev", "eth0")
            run("ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up")
            run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        # Bridged frames must not be filtered by the root namespace's iptables.
        if os.path.exists("/proc/sys/net/bridge/bridge-nf-call-iptables"):
            run("sh", "-c", "echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables", check=False)

    def ns_run(self, i, *args, check=True):
        """Runs a command inside node i's namespace."""
        return run("ip", "netns", "exec", ns_name(i), *args, check=check)

    def teardown_network(self):
        for i in self.ids:
            run("ip", "netns", "del", ns_name(i), check=False)
            run("ip", "link", "del", veth_name(i), check=False)
        run("ip", "link", "del", BRIDGE, check=False)

    # -- processes ------------------------------------------------------------------------
    def data_dir(self, i):
        return os.path.join(self.work, f"node-{i}", "data")

    def metadata_dir(self, i):
        return os.path.join(self.data_dir(i), "__cluster_metadata")

    def props(self, i):
        """Node i's configuration (also what Kafka's add-controller reads, quorum.py)."""
        props = {
            "node.id": str(i),
            "process.roles": "broker,controller",
            "controller.listener.names": "CONTROLLER",
            "listeners": f"PLAINTEXT://{self.hosts[i]}:{self.client_ports[i]},"
                         f"CONTROLLER://{self.hosts[i]}:{self.controller_ports[i]}",
            "log.dirs": self.data_dir(i),
            "metadata.log.dir": self.metadata_dir(i),
        }
        controllers = [f"{self.hosts[j]}:{self.controller_ports[j]}" for j in self.ids]
        if self.dynamic_quorum:
            props["controller.quorum.bootstrap.servers"] = ",".join(controllers)
        else:
            props["controller.quorum.voters"] = ",".join(
                f"{j}@{address}" for j, address in zip(self.ids, controllers))
        props.update(self.settings)
        props.update(self.node_settings(i))
        return props

    def command(self, i, verb="serve"):
        cmd = [self.runnel, verb]
        for key, value in self.props(i).items():
            cmd += ["--override", f"{key}={value}"]
        if self.namespaces and verb == "serve":
            cmd = ["ip", "netns", "exec", ns_name(i)] + cmd
        return cmd

    def journal(self, i):
        """Node i's sync journal (storage::sync_journal; power.py's faults read it)."""
        return os.path.join(self.work, f"node-{i}.sync-journal")

    def compact_journal(self, i):
        """Before node i starts: keeps the last journaled length of each segment file that still
        exists. A file removed while the node was down (F22's wipe, a partition folder F16/F17
        removed) and later created again under the same name must not inherit the old length."""
        lengths = power_loss.journaled(self.journal(i))
        with open(self.journal(i) + ".tmp", "w") as f:
            for path, length in lengths.items():
                if os.path.exists(path):
                    f.write(f"{length} {path}\n")
        os.replace(self.journal(i) + ".tmp", self.journal(i))

    def registrations(self, i):
        """How many times node i's broker registered with the controller (from its log)."""
        try:
            with open(os.path.join(self.work, f"node-{i}.log"), "rb") as f:
                return f.read().count(b"registered with the controller")
        except OSError:
            return 0

    def registered(self):
        """Whether every node registered since it last started."""
        return all(self.registrations(i) >= n for i, n in self.expected_registrations.items())

    def start(self, i):
        self.expected_registrations[i] = self.registrations(i) + 1
        os.makedirs(self.data_dir(i), exist_ok=True)
        if (self.dynamic_quorum and i == self.ids[0] and not self.formed
                and not os.path.exists(os.path.join(self.metadata_dir(i), "meta.properties"))):
            # `runnel format --standalone` once: the first node forms the quorum. A node whose
            # folder is emptied later (F22) joins as an observer instead, as in Kafka.
            subprocess.run(self.command(i, "format") + ["--standalone"], check=True,
                           capture_output=True, timeout=30)
            self.formed = True
        out = open(os.path.join(self.work, f"node-{i}.log"), "ab")
        # RUNNEL_* variables are broker settings: pass none but the log level.
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNEL_")}
        env["RUNNEL_LOG"] = os.environ.get("RUNNEL_LOG", "info")
        # Every fdatasync of a segment is journaled, so that a power-loss fault (power.py) can
        # cut what was not synced whenever it runs; cheap (one line per fsync).
        self.compact_journal(i)
        env["RNL_FAULTS_SYNC_JOURNAL"] = self.journal(i)
        # With F10 selected, the wall clock under an offset file of its own, +0 until F10
        # moves it (clock.py); otherwise no libfaketime in the nodes.
        if self.fake_clock:
            env.update(clock.node_env(self.work, i))
        # With F18 or F19 selected, the data folder's writes and syncs under the disk-fault
        # library, healthy until a fault orders otherwise (disk.py).
        if self.disk_faults:
            extra, library = disk.node_env(self.work, i, self.data_dir(i))
            env.update(extra)
            env["LD_PRELOAD"] = " ".join(p for p in (env.get("LD_PRELOAD"), library) if p)
        self.procs[i] = subprocess.Popen(self.command(i), stdout=out, stderr=out, env=env,
                                         start_new_session=True)
        self.stopped.discard(i)

    def start_all(self):
        for i in self.ids:
            self.start(i)

    def alive(self, i):
        p = self.procs.get(i)
        return p is not None and p.poll() is None

    def terminate(self, i, timeout=30):
        """SIGTERM node i and wait for it: its exit status, or None when it outlived `timeout`
        (it is then SIGKILLed)."""
        p = self.procs.get(i)
        if p is None or p.poll() is not None:
            return p.returncode if p is not None else None
        if i in self.stopped:
            os.kill(p.pid, signal.SIGCONT)
        p.terminate()
        try:
            status = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=30)
            status = None
        self.stopped.discard(i)
        return status

    def log_size(self, i):
        try:
            return os.path.getsize(os.path.join(self.work, f"node-{i}.log"))
        except OSError:
            return 0

    def log_since(self, i, position):
        """Node i's log from byte `position` (see log_size) to its end, as text."""
        try:
            with open(os.path.join(self.work, f"node-{i}.log"), "rb") as f:
                f.seek(position)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def kill(self, i):
        p = self.procs.get(i)
        if p is not None and p.poll() is None:
            if i in self.stopped:
                os.kill(p.pid, signal.SIGCONT)
            p.kill()
            p.wait(timeout=30)
        self.stopped.discard(i)

    def pause(self, i):
        os.kill(self.procs[i].pid, signal.SIGSTOP)
        self.stopped.add(i)

    def resume(self, i):
        os.kill(self.procs[i].pid, signal.SIGCONT)
        self.stopped.discard(i)

    def wipe(self, i):
        shutil.rmtree(os.path.join(self.work, f"node-{i}", "data"), ignore_errors=True)

    def block(self, i, peers, direction="both"):
        """Drops, inside node i's namespace, packets coming in from (`in`), going out to
        (`out`) or both ways between node i and each of `peers`; clients are untouched."""
        self.isolated.add(i)
        for j in peers:
            if direction in ("in", "both"):
                self.ns_run(i, "iptables", "-A", "INPUT", "-s", self.hosts[j], "-j", "DROP")
            if direction in ("out", "both"):
                self.ns_run(i, "iptables", "-A", "OUTPUT", "-d", self.hosts[j], "-j", "DROP")

    def isolate(self, i):
        self.block(i, [j for j in self.ids if j != i], "both")

    def heal(self, i):
        """Removes every rule, chain and queueing discipline a fault put into node i's namespace."""
        for table in ("filter", "mangle"):
            self.ns_run(i, "iptables", "-t", table, "-F", check=False)
            self.ns_run(i, "iptables", "-t", table, "-X", check=False)
        self.ns_run(i, "tc", "qdisc", "del", "dev", "eth0", "root", check=False)
        self.isolated.discard(i)

    def heal_all(self):
        for i in list(self.isolated):
            self.heal(i)

    def adopt(self, proc):
        """Registers a helper process (a subprocess.Popen) for destroy() to kill."""
        self.helpers = [p for p in self.helpers if p.poll() is None]
        self.helpers.append(proc)

    def stop_all(self, timeout=30):
        """SIGTERM everything (continuing paused nodes first); SIGKILL what outlives `timeout`.
        Returns the exit statuses."""
        self.heal_all()
        for i, p in self.procs.items():
            if p.poll() is None:
                if i in self.stopped:
                    os.kill(p.pid, signal.SIGCONT)
                p.terminate()
        deadline = time.time() + timeout
        statuses = {}
        for i, p in self.procs.items():
            try:
                statuses[i] = p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                statuses[i] = p.wait()
        return statuses

    def destroy(self):
        for p in self.helpers:
            if p.poll() is None:
                try:
                    p.kill()
                    p.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    pass
        for p in self.procs.values():
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGCONT)
                    p.kill()
                    p.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    pass
        self.teardown_network()
