"""compat/faults/corrupt.py -- a stopped node's partition files: damage them (F16, F17) and, after the
run, check every replica against the others (replica-divergence) and every index against its log
(index-consistency).

A partition folder `<topic>-<partition>` in a node's log.dirs holds Kafka's layout: segments
`<base offset, 20 digits>.log` of record batches (v2: base offset i64, batch length i32, partition
leader epoch i32, magic i8, CRC-32C u32 of everything after it, attributes, last offset delta, ...),
beside each its `.index` (relative offset u32, position u32: a batch's base offset and file
position), `.timeindex` (timestamp i64, relative offset u32) and `.txnindex`, and producer-state
snapshots `<offset>.snapshot`.

F16 (bit flips / truncation): `damage_segment` flips 1-8 random bits in, and/or truncates, the last
4 KiB of one segment of a stopped follower: the active (last) segment, whose tail the broker must
re-validate batch by batch at restart after a SIGKILL, or (variant `sealed`) the newest sealed
segment after a clean stop, which lies below the recovery point the broker trusts.
F17 (indexes and snapshots): `damage_indexes` deletes, corrupts (deletion, truncation to a torn
entry, garbage bytes, zeros, bit flips) or restores stale copies (`copy_indexes` earlier in the cycle)
of every `.index`, `.timeindex`, `.txnindex` and `.snapshot` of a stopped follower (`corrupt` picks per file: deleted, torn entry, garbage, zeros, bit flips).
"""
import hashlib
import os
import struct

SUFFIXES = (".index", ".timeindex", ".txnindex", ".snapshot")
TAIL = 4096


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def partition_dirs(data_dir, internal=True):
    """`<topic>-<partition>` folders of one node (not the metadata log)."""
    try:
        names = sorted(os.listdir(data_dir))
    except OSError:
        return []
    return [n for n in names if os.path.isdir(os.path.join(data_dir, n)) and "-" in n
            and not n.startswith("__cluster_metadata") and (internal or not n.startswith("__"))]


def segments(folder):
    """Base offsets and paths of the `.log` segments in a partition folder, ascending."""
    out = []
    for name in os.listdir(folder):
        stem = name[:-4]
        if name.endswith(".log") and len(stem) == 20 and stem.isdigit():
            out.append((int(stem), os.path.join(folder, name)))
    return sorted(out)


def batches(data):
    """(position, base offset, last offset, batch bytes) of each whole batch in a segment; stops
    at the first torn frame."""
    pos = 0
    while pos + 61 <= len(data):
        base, length = struct.unpack_from(">qi", data, pos)
        end = pos + 12 + length
        if length < 49 or end > len(data):
            return
        last = base + struct.unpack_from(">i", data, pos + 23)[0]
        yield pos, base, last, data[pos:end]
        pos = end


def crc_ok(batch):
    return struct.unpack_from(">I", batch, 17)[0] == crc32c(batch[21:])


# -- F16 ----------------------------------------------------------------------------------------
def damage_segment(folder, rng, sealed):
    """Flips bits in and/or truncates the tail of the active segment (or of the newest sealed one).
    Returns a description, or None when there is no such segment."""
    segs = segments(folder)
    if sealed:
        segs = segs[:-1]
    segs = [(b, p) for b, p in segs if os.path.getsize(p) > 0]
    if not segs:
        return None
    base, path = segs[-1]
    with open(path, "rb") as f:
        data = f.read()
    start = max(0, len(data) - TAIL)
    action = rng.choice(["flip", "truncate", "flip+truncate"])
    flips = []
    size = len(data)
    buf = bytearray(data)
    if "flip" in action:
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(start, len(data))
            bit = rng.randrange(8)
            buf[pos] ^= 1 << bit
            flips.append((pos, bit))
    if "truncate" in action:
        size = rng.randrange(start, len(data))
    touched = sorted(p for p, _ in flips) + ([size] if size < len(data) else [])
    first = min(touched)
    hit = [(b, l) for pos, b, l, raw in batches(data) if pos + len(raw) > first]
    with open(path, "r+b") as f:
        f.write(bytes(buf[:size]))
        f.truncate(size)
    return {"file": os.path.relpath(path, os.path.dirname(folder)), "size": len(data), "action": action,
            "flips": flips, "truncated_to": size if size < len(data) else None,
            "offsets": (hit[0][0], hit[-1][1]) if hit else None, "sealed": sealed}


def same_batches(folder, other, first, last):
    """Whether two replicas of a partition (folders of live or stopped nodes) hold the same bytes
    for every batch whose offsets meet [first, last] (the range a damage hit). Sealed segments do
    not change under a running node; the active one may grow, which adds batches, not changes."""
    mine, _ = read_replica(folder)
    theirs, _ = read_replica(other)
    wanted = {b for b, v in theirs.items() if v[0] >= first and b <= last}
    return all(b in mine and mine[b][1] == theirs[b][1] for b in wanted)


def aborted_txns(folder, below):
    """{(producer id, first offset, marker offset)} of every `.txnindex` entry of a partition whose
    marker lies below `below` (the last stable offsets in entries may differ between replicas)."""
    out = set()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".txnindex"):
            with open(os.path.join(folder, name), "rb") as f:
                data = f.read()
            for i in range(0, len(data) - len(data) % 34, 34):
                _, pid, first, last, _ = struct.unpack_from(">hqqqq", data, i)
                if last < below:
                    out.add((pid, first, last))
    return out


def log_end(folder):
    r, _ = read_replica(folder)
    return max(l for l, _, _ in r.values()) + 1 if r else 0


def txn_index_differences(folder, other):
    """Aborted transactions one replica's `.txnindex` files name and the other's do not, below
    both replicas' log ends: (missing here, extra here)."""
    below = min(log_end(folder), log_end(other))
    mine, theirs = aborted_txns(folder, below), aborted_txns(other, below)
    return sorted(theirs - mine), sorted(mine - theirs)


# -- F17 ----------------------------------------------------------------------------------------
def index_files(data_dir):
    out = []
    for name in partition_dirs(data_dir):
        folder = os.path.join(data_dir, name)
        out += [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.endswith(SUFFIXES)]
    return out


def copy_indexes(data_dir):
    """The current bytes of every index and snapshot file (for variant `stale`)."""
    copies = {}
    for path in index_files(data_dir):
        try:
            with open(path, "rb") as f:
                copies[path] = f.read()
        except OSError:
            pass
    return copies


def damage_indexes(data_dir, rng, variant, copies=None, damaged=None):
    """Deletes, corrupts or (stale) restores earlier copies of the index and snapshot files of a
    stopped node. Returns {what was done: number of files}; `damaged` gets path -> stamp()."""
    done = {}

    def count(what, path=None):
        done[what] = done.get(what, 0) + 1
        if damaged is not None and path is not None:
            damaged[path] = stamp(path)
    if variant == "stale":
        current = set(index_files(data_dir))
        for path in current - set(copies):
            if path.endswith(".snapshot"):
                os.remove(path)
                count("newer snapshot removed")
        for path, data in copies.items():
            if path.endswith(".snapshot") and os.path.isdir(os.path.dirname(path)) \
                    or os.path.exists(path[:path.rfind(".")] + ".log"):
                with open(path, "wb") as f:
                    f.write(data)
                count("stale copy restored", path)
        return done
    for path in index_files(data_dir):
        if variant == "delete":
            os.remove(path)
            count(f"{os.path.splitext(path)[1]} deleted")
            continue
        with open(path, "rb") as f:
            data = bytearray(f.read())
        how = rng.choice(["deleted", "torn entry", "garbage", "zeros", "bit flips"])
        if not data and how != "deleted":
            how = "garbage"
        if how == "deleted":
            os.remove(path)
            count(f"{os.path.splitext(path)[1]} deleted")
            continue
        if how == "torn entry":
            data = data[:max(0, len(data) - rng.randint(1, 7))]
        elif how == "garbage":
            pos = rng.randrange(max(1, len(data)))
            data[pos:pos + 12] = bytes(rng.randrange(256) for _ in range(12))
        elif how == "zeros":
            data = bytearray(len(data))
        else:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        with open(path, "wb") as f:
            f.write(bytes(data))
        count(f"{os.path.splitext(path)[1]} {how}", path)
    return done


# -- after the run --------------------------------------------------------------------------------
def read_replica(folder):
    """{base offset: (last offset, sha1, crc ok?)} over every segment, plus problems found."""
    out, problems = {}, []
    for base, path in segments(folder):
        with open(path, "rb") as f:
            data = f.read()
        end = 0
        for pos, b, last, raw in batches(data):
            out[b] = (last, hashlib.sha1(raw).hexdigest(), raw)
            end = pos + len(raw)
        if end != len(data):
            problems.append(f"{os.path.basename(path)}: {len(data) - end} bytes after the last whole batch")
    return out, problems


def compare_replicas(data_dirs, topics):
    """Every partition of `topics` (not compacted: replicas must be byte-identical) on every
    node: the same batches with valid CRCs. Returns a list of problems (empty: all agree)."""
    problems = []
    names = sorted({n for d in data_dirs.values() for n in partition_dirs(d, internal=False)
                    if n.rsplit("-", 1)[0] in topics})
    for name in names:
        replicas = {}
        for node, d in data_dirs.items():
            folder = os.path.join(d, name)
            if os.path.isdir(folder):
                replicas[node], trailing = read_replica(folder)
                problems += [f"node {node} {name}: {t}" for t in trailing]
        ends = {node: (max(l for l, _, _ in r.values()) + 1 if r else 0) for node, r in replicas.items()}
        if len(set(ends.values())) > 1:
            problems.append(f"{name}: log end offsets differ {ends}")
        folders = {node: os.path.join(d, name) for node, d in data_dirs.items() if node in replicas}
        nodes = sorted(folders)
        for a, b in zip(nodes, nodes[1:]):
            missing, extra = txn_index_differences(folders[a], folders[b])
            if missing or extra:
                problems.append(f"{name}: aborted-transaction indexes differ: node {a} lacks {len(missing)} "
                                f"{missing[:2]} and has {len(extra)} more {extra[:2]} than node {b}")
        bases = sorted({b for r in replicas.values() for b in r})
        for b in bases:
            versions = {node: r.get(b) for node, r in replicas.items() if b < ends[node]}
            digests = {v[1] if v else None for v in versions.values()}
            if len(digests) > 1:
                detail = ", ".join(f"node {node}: " + ("missing" if v is None else
                                   f"offsets {b}-{v[0]} crc {'ok' if crc_ok(v[2]) else 'BAD'}")
                                   for node, v in sorted(versions.items()))
                problems.append(f"{name} batch at offset {b}: replicas differ ({detail})")
    return problems


def stamp(path):
    """(size, mtime in ns) of a file, None when it is gone: tells whether it was rewritten."""
    try:
        st = os.stat(path)
        return st.st_size, st.st_mtime_ns
    except OSError:
        return None


def check_indexes(data_dir):
    """Every `.index` entry of a node names a batch's base offset and position in its segment, in
    increasing order; `.timeindex` entries increase. Returns [(index path, problem)]."""
    problems = []
    for name in partition_dirs(data_dir):
        folder = os.path.join(data_dir, name)
        for base, path in segments(folder):
            with open(path, "rb") as f:
                frames = {pos: b for pos, b, _, _ in batches(f.read())}
            index = path[:-4] + ".index"
            if os.path.exists(index):
                with open(index, "rb") as f:
                    data = f.read()
                if len(data) % 8:
                    problems.append((index, f"{name}/{os.path.basename(index)}: size {len(data)} is no whole entry"))
                last = (-1, -1)
                for i in range(0, len(data) - len(data) % 8, 8):
                    rel, pos = struct.unpack_from(">II", data, i)
                    if frames.get(pos) != base + rel or (rel, pos) <= last:
                        problems.append((index, f"{name}/{os.path.basename(index)}: entry {i // 8} (offset "
                                                f"{base + rel}, position {pos}) names no batch of the log"))
                        break
                    last = (rel, pos)
            timeindex = path[:-4] + ".timeindex"
            if os.path.exists(timeindex):
                with open(timeindex, "rb") as f:
                    data = f.read()
                entries = [struct.unpack_from(">qI", data, i) for i in range(0, len(data) - len(data) % 12, 12)]
                if len(data) % 12 or any(b[0] <= a[0] or b[1] < a[1] for a, b in zip(entries, entries[1:])):
                    problems.append((timeindex, f"{name}/{os.path.basename(timeindex)}: not increasing or torn"))
    return problems
