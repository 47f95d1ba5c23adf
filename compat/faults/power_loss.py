"""compat/faults/power_loss.py -- what a power cut leaves of a SIGKILLed node's logs (F12/F13).

A node started with RNL_FAULTS_SYNC_JOURNAL=FILE (storage::sync_journal) appends `<length> <path>`
to FILE after every fdatasync of a segment `.log` file (the length it had before the sync
began) and after every truncation. After SIGKILL, lose_unsynced() cuts each segment file of the
chosen partitions back to its last journaled length (0 when never synced): the page cache the
power cut lost. Partitions of compacted topics are left alone (the cleaner writes segments under
a temporary name and renames them, so the journal names the temporary file), which is why the
caller passes the topics to apply it to.

    python power_loss.py JOURNAL DATA_DIR TOPIC...   (prints what it cut; for use by hand)
"""
import os
import re
import sys


def journaled(journal):
    """The last journaled length of each path."""
    lengths = {}
    try:
        with open(journal, encoding="utf-8", errors="replace") as f:
            for line in f:
                length, _, path = line.rstrip("\n").partition(" ")
                if path and length.isdigit():
                    lengths[path] = int(length)
    except FileNotFoundError:
        pass
    return lengths


def lose_unsynced(journal, data_dir, topics):
    """Cuts the unsynced tail of every segment of TOPICS' partitions under DATA_DIR.
    Returns {partition_dir_name: bytes_dropped} for the partitions that lost bytes."""
    lengths = journaled(journal)
    wanted = re.compile(r"^(%s)-\d+$" % "|".join(re.escape(t) for t in topics))
    dropped = {}
    for root, dirs, files in os.walk(data_dir):
        name = os.path.basename(root)
        if not wanted.match(name):
            continue
        for file in files:
            if not file.endswith(".log"):
                continue
            path = os.path.join(root, file)
            size = os.path.getsize(path)
            kept = min(size, lengths.get(path, lengths.get(os.path.realpath(path), 0)))
            if kept < size:
                os.truncate(path, kept)
                dropped[name] = dropped.get(name, 0) + size - kept
    return dropped


if __name__ == "__main__":
    if len(sys.argv) < 4:
        print(__doc__.strip().splitlines()[-1].strip())
        sys.exit(2)
    cut = lose_unsynced(sys.argv[1], sys.argv[2], sys.argv[3:])
    for partition, n in sorted(cut.items()):
        print(f"{partition}: {n} bytes dropped")
