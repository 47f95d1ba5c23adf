"""compat/faults/cluster.py -- a 3-node Runnel cluster of real processes for the fault harness.

Owns: the network (a bridge `rnfK` with 10.199.K.1/24 in the root namespace and, for node i, a
namespace `rnf-K-i` holding one end of a veth pair as 10.199.K.(10+i)/24, where K is derived
from the harness's pid so that two runs never share names or addresses), the node processes
(`runnel serve`, combined broker and controller, listening on 9092/9093 inside their namespace),
their data folders WORK/node-i/data and logs WORK/node-i.log, and the faults applied to them:
SIGKILL, SIGSTOP/SIGCONT, wiping the data folder, and isolating a node from the other nodes
with iptables rules inside its namespace (clients in the root namespace still reach it).

Where namespaces cannot be created (not root, no `ip`), the nodes run on 127.0.0.1 with distinct
ports and isolation is unavailable (`can_isolate` is False).

Everything created is removed by `Cluster.destroy()`, which the harness calls on every exit path.
"""
import os
import shutil
import signal
import socket
import subprocess
import time

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
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("iptables") is None:
        return False
    probe = f"rnf-probe-{os.getpid()}"
    try:
        run("ip", "netns", "add", probe)
        run("ip", "netns", "del", probe)
        return True
    except (subprocess.CalledProcessError, OSError):
        return False


class Cluster:
    def __init__(self, runnel, work, nodes=3, settings=None, use_namespaces=True, log=print):
        self.runnel = runnel
        self.work = work
        self.ids = list(range(1, nodes + 1))
        self.settings = dict(settings or {})
        self.log = log
        self.namespaces = use_namespaces and namespaces_available()
        self.procs = {}
        self.expected_registrations = {}
        self.stopped = set()
        self.isolated = set()
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

    def teardown_network(self):
        for i in self.ids:
            run("ip", "netns", "del", ns_name(i), check=False)
            run("ip", "link", "del", veth_name(i), check=False)
        run("ip", "link", "del", BRIDGE, check=False)

    # -- processes ------------------------------------------------------------------------
    def data_dir(self, i):
        return os.path.join(self.work, f"node-{i}", "data")

    def command(self, i):
        voters = ",".join(f"{j}@{self.hosts[j]}:{self.controller_ports[j]}" for j in self.ids)
        props = {
            "node.id": str(i),
            "process.roles": "broker,controller",
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{self.hosts[i]}:{self.client_ports[i]},"
                         f"CONTROLLER://{self.hosts[i]}:{self.controller_ports[i]}",
            "log.dirs": self.data_dir(i),
        }
        props.update(self.settings)
        cmd = [self.runnel, "serve"]
        for key, value in props.items():
            cmd += ["--override", f"{key}={value}"]
        if self.namespaces:
            cmd = ["ip", "netns", "exec", ns_name(i)] + cmd
        return cmd

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
        out = open(os.path.join(self.work, f"node-{i}.log"), "ab")
        # RUNNEL_* variables are broker settings: pass none but the log level.
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNEL_")}
        env["RUNNEL_LOG"] = os.environ.get("RUNNEL_LOG", "info")
        self.procs[i] = subprocess.Popen(self.command(i), stdout=out, stderr=out, env=env,
                                         start_new_session=True)
        self.stopped.discard(i)

    def start_all(self):
        for i in self.ids:
            self.start(i)

    def alive(self, i):
        p = self.procs.get(i)
        return p is not None and p.poll() is None

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

    def isolate(self, i):
        ns = ns_name(i)
        for j in self.ids:
            if j != i:
                run("ip", "netns", "exec", ns, "iptables", "-A", "INPUT", "-s", self.hosts[j], "-j", "DROP")
                run("ip", "netns", "exec", ns, "iptables", "-A", "OUTPUT", "-d", self.hosts[j], "-j", "DROP")
        self.isolated.add(i)

    def heal(self, i):
        run("ip", "netns", "exec", ns_name(i), "iptables", "-F", check=False)
        self.isolated.discard(i)

    def stop_all(self, timeout=30):
        """SIGTERM everything (continuing paused nodes first); SIGKILL what outlives `timeout`.
        Returns the exit statuses."""
        for i in list(self.isolated):
            self.heal(i)
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
        for p in self.procs.values():
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGCONT)
                    p.kill()
                    p.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    pass
        self.teardown_network()
