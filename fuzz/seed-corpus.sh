#!/usr/bin/env bash
# Seeds the fuzz corpora (fuzz/corpus/, git-ignored) from the golden frames captured from real
# clients: every request frame for decode_request, and every record batch found in the golden
# Produce requests and Fetch responses for decode_records. Safe to re-run; adds, never deletes.
set -euo pipefail

fuzz_dir="$(cd "$(dirname "$0")" && pwd)"
golden_dir="$fuzz_dir/../crates/protocol/tests/golden"
requests="$fuzz_dir/corpus/decode_request"
records="$fuzz_dir/corpus/decode_records"
mkdir -p "$requests" "$records"

for file in "$golden_dir"/*/*.req.bin; do
    client="$(basename "$(dirname "$file")")"
    cp "$file" "$requests/$client-$(basename "$file")"
done

# A v2 batch starts with baseOffset (8 bytes), batchLength (4) and partitionLeaderEpoch (4),
# then magic = 2; scan the golden Produce and Fetch frames for spans shaped like that.
python3 - "$golden_dir" "$records" <<'PY'
import pathlib, sys
golden, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
count = 0
for path in sorted(golden.glob("*/*-Produce-*.req.bin")) + sorted(golden.glob("*/*-Fetch-*.resp.bin")):
    data = path.read_bytes()
    at = 0
    while at + 61 <= len(data):
        length = int.from_bytes(data[at + 8:at + 12], "big", signed=True)
        if data[at + 16] == 2 and 49 <= length and at + 12 + length <= len(data):
            name = f"{path.parent.name}-{path.stem}-{at}.bin"
            (out / name).write_bytes(data[at:at + 12 + length])
            count += 1
            at += 12 + length
        else:
            at += 1
print(f"decode_records: {count} batches from golden Produce and Fetch frames")
PY
echo "decode_request: $(ls "$requests" | wc -l) files in $requests"
