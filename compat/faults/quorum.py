"""compat/faults/quorum.py -- a dynamic controller quorum (KIP-853) in the fault harness: making
the three nodes voters with Kafka's kafka-metadata-quorum, putting back a voter whose folder was
emptied (F22's operator procedure), and F28, a controller removed or added during a network
partition (issue 15's membership faults).

With `--dynamic-quorum` the nodes start with controller.quorum.bootstrap.servers (cluster.py):
node 1 formatted standalone, nodes 2 and 3 observers until `form` adds them. Calls go through
Kafka's MetadataQuorumCommand (compat/kafka-tools.sh), as an operator's would: add-controller
reads the node's properties file and the directory id of its meta.properties.

F28 variants (each heals and ends with the three nodes voting again):
  remove-isolated  a random controller is cut from its peers (both ways, namespaces); the
                   others remove it (remove-controller must succeed: two voters remain); heal;
                   add-controller puts it back once it has caught up as an observer.
  add-isolated     a random controller is removed first; then it is cut from its peers and
                   add-controller is tried (refused while it cannot catch up, or accepted with
                   the two others as the majority); heal; it ends a voter.
Own checks: each change answers as stated, the voters end as the three nodes with their
directory ids, and the cluster heals (the harness's end-of-run checks find any lost write).
"""
import json
import os
import re
import time

QUORUM_TOOL = "org.apache.kafka.tools.MetadataQuorumCommand"
CHANGE_BOUND_S = 90


def properties_file(c, i):
    """Node i's configuration as Kafka's tools read it (add-controller's --command-config)."""
    path = os.path.join(c.work, f"node-{i}.properties")
    with open(path, "w") as f:
        for key, value in c.props(i).items():
            f.write(f"{key}={value}\n")
        # The same file configures the tool's admin client: a broker cut off from the quorum
        # (F28) answers only after its own 20 s bound, so the tool gives up sooner than its 60 s.
        f.write("request.timeout.ms=10000\ndefault.api.timeout.ms=15000\n")
    return path


def directory_id(c, i):
    """The directory id in node i's metadata folder (None while it has none)."""
    try:
        with open(os.path.join(c.metadata_dir(i), "meta.properties")) as f:
            found = re.search(r"^directory\.id=(\S+)$", f.read(), re.M)
            return found.group(1) if found else None
    except OSError:
        return None


def tool(h, bootstrap, *args):
    status, out = h.tool(QUORUM_TOOL, "--bootstrap-server", bootstrap, *args, timeout=90)
    h.log(f"kafka-metadata-quorum {' '.join(args)}: exit {status}: {out.strip()[-300:]}")
    return status, out


def voters(h, bootstrap=None):
    """Sorted (id, directory id) of the voters, from describe --status; None if unanswered."""
    status, out = tool(h, bootstrap or h.cluster.bootstrap(), "describe", "--status")
    found = re.search(r"CurrentVoters:\s*(\[.*\])", out)
    if status != 0 or not found:
        return None
    return sorted((v["id"], v.get("directoryId")) for v in json.loads(found.group(1)))


def add(h, i, bootstrap=None, bound=CHANGE_BOUND_S):
    """add-controller for node i, retried while refused (an observer still catching up is
    REQUEST_TIMED_OUT); answers the last (status, output)."""
    end = time.time() + bound
    while True:
        status, out = tool(h, bootstrap or h.cluster.bootstrap(), "--command-config",
                           properties_file(h.cluster, i), "add-controller")
        if status == 0 or "DuplicateVoterException" in out or time.time() > end:
            return status, out
        time.sleep(1)


def remove(h, i, directory, bootstrap=None):
    return tool(h, bootstrap or h.cluster.bootstrap(), "remove-controller", "--controller-id",
                str(i), f"--controller-directory-id={directory}")


def expected(c):
    return sorted((i, directory_id(c, i)) for i in c.ids)


def form(h):
    """Makes nodes 2 and 3 voters (they joined as observers). Returns whether all three vote."""
    for i in h.cluster.ids[1:]:
        status, out = add(h, i)
        if status != 0 and "DuplicateVoterException" not in out:
            h.say("FAIL", f"dynamic quorum: add-controller {i}: {out.strip()[-300:]}")
            return False
    return voters(h) == expected(h.cluster)


def replace_emptied(h, i, old_directory):
    """F22's operator procedure on a dynamic quorum: node i came back with an empty folder (a
    new directory id): remove its old key, then add it under the new one."""
    status, out = remove(h, i, old_directory)
    if status != 0:
        h.say("FAIL", f"F22: remove-controller {i} (old directory): {out.strip()[-300:]}")
        return False
    status, out = add(h, i)
    if status != 0:
        h.say("FAIL", f"F22: add-controller {i} (new directory): {out.strip()[-300:]}")
        return False
    return True


def f28(h, rng, k, variant):
    c = h.cluster
    victim = rng.choice(c.ids)
    others = ",".join(c.address(j) for j in c.ids if j != victim)
    problems = []
    directory = directory_id(c, victim)
    if variant == "add-isolated":
        status, out = remove(h, victim, directory, others)
        if status != 0:
            problems.append(f"remove-controller {victim} before the partition: {out.strip()[-200:]}")
    c.isolate(victim)
    h.log(f"F28:{variant}: node {victim} cut from its peers")
    try:
        if variant == "remove-isolated":
            status, out = remove(h, victim, directory, others)
            if status != 0:
                problems.append(f"remove-controller {victim} during the partition: "
                                f"{out.strip()[-200:]}")
        else:
            status, out = add(h, victim, others, bound=8)
            h.note("F28", f"add-isolated: add-controller {victim} during the partition "
                          f"{'accepted' if status == 0 else 'refused'}")
        time.sleep(h.session_timeout_s + 1)
    finally:
        c.heal(victim)
    status, out = add(h, victim)
    if status != 0 and "DuplicateVoterException" not in out:
        problems.append(f"add-controller {victim} after the heal: {out.strip()[-200:]}")
    ended = voters(h)
    if ended != expected(c):
        problems.append(f"voters {ended}, expected {expected(c)}")
    if problems:
        h.say("FAIL", f"F28:{variant}: {'; '.join(problems)}")
        return False
    h.note("F28", f"{variant}: node {victim} removed and added back; voters {[v for v, _ in ended]}")
    return True
