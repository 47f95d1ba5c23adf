#!/usr/bin/env bash
# The long fuzzing campaign (reliability.md: 24 CPU-hours per decoder), run by hand in the
# background over sessions. Each pass runs every target (or those named) for --minutes each
# with the limits of docs/internals/fuzzing.md, appends one line per run to
# fuzz/campaign/tally.tsv (date, target, seconds, executions, exit status), and stops after
# --hours of wall time; `--report` prints the hours and executions per target so far. A crash
# stops its target's run with a non-zero status and leaves its input in fuzz/artifacts/ (turn it
# into a regression test before fixing it). fuzz/campaign/ is git-ignored.
#
#   fuzz/campaign.sh --hours 8 --minutes 60            # every target, an hour each, in turn
#   fuzz/campaign.sh --hours 2 decode_records          # one target
#   fuzz/campaign.sh --report
set -uo pipefail

fuzz_dir="$(cd "$(dirname "$0")" && pwd)"
out="$fuzz_dir/campaign"
tally="$out/tally.tsv"
hours=4 minutes=30 report=0 targets=()
while (($#)); do
    case "$1" in
        --hours) hours="$2"; shift 2 ;;
        --minutes) minutes="$2"; shift 2 ;;
        --report) report=1; shift ;;
        -*) echo "campaign.sh: unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
mkdir -p "$out"
touch "$tally"

print_report() {
    awk -F'\t' '{ s[$2] += $3; e[$2] += $4; if ($5 != 0) c[$2]++ }
        END { for (t in s) printf "%s: %.1f h, %d executions, %d runs ended non-zero\n", t, s[t] / 3600, e[t], c[t] }' \
        "$tally" | sort
}
if ((report)); then
    print_report
    exit 0
fi
if ((${#targets[@]} == 0)); then
    for f in "$fuzz_dir"/fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi
[[ -d "$fuzz_dir/corpus" ]] || "$fuzz_dir/seed-corpus.sh"

cd "$fuzz_dir/.."
end=$(( $(date +%s) + ${hours%.*} * 3600 ))
while (( $(date +%s) < end )); do
    for target in "${targets[@]}"; do
        left=$(( end - $(date +%s) ))
        (( left > 60 )) || break 2
        seconds=$(( minutes * 60 < left ? minutes * 60 : left ))
        log="$out/$target-$(date +%Y%m%d-%H%M%S).log"
        cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 \
            -malloc_limit_mb=64 -print_final_stats=1 >"$log" 2>&1
        status=$?
        runs=$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' | tail -1)
        took=$(grep -oE 'runs in [0-9]+ second' "$log" | grep -oE '[0-9]+' | tail -1)
        printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$target" "${took:-0}" "${runs:-0}" "$status" >>"$tally"
        echo "campaign.sh: $target: ${took:-0} s, ${runs:-0} executions, exit $status ($log)"
    done
done
print_report
