#!/usr/bin/env bash
# compat/franz-go/run.sh -- franz-go v1.22.3's own pkg/kgo integration suite against a running
# broker. Owns the "franz-go" suite of compat/run.sh.
#
#   compat/franz-go/run.sh BOOTSTRAP            the tests in tests.allow (the CI set)
#   KGO_ALL=1 compat/franz-go/run.sh BOOTSTRAP  every test of the package (to refresh FINDINGS.md)
#
# `go test github.com/twmb/franz-go/pkg/kgo` runs the dependency's tests from the module cache
# (the module is pinned by go.mod/go.sum here; GOTOOLCHAIN=local), with KGO_SEEDS=BOOTSTRAP,
# KGO_TEST_RF=1 and -run built from tests.allow (one test name per line, `#` comments; a name
# ending in `!` must not skip: its SKIP is reported as a FAIL). Prints
# `PASS/FAIL/SKIP TestName` for every top-level test (an allow-listed test with no result, e.g.
# after a timeout or panic, is a FAIL), then `kgo: N passed, N failed, N skipped`.
# Knobs: KGO_TEST_RECORDS (default 20000), KGO_GO_TIMEOUT (default 12m), KGO_LOG (the raw
# `go test -v` log; default a temp file, printed on stderr).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
B=${1:?usage: compat/franz-go/run.sh BOOTSTRAP}
export GOTOOLCHAIN=local GOFLAGS=-mod=mod
LOG=${KGO_LOG:-$(mktemp "${TMPDIR:-/tmp}/runnel-kgo.XXXXXX.log")}

mapfile -t listed < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$HERE/tests.allow" | grep -v '^$')
# A name ending in `!` must run: its skip is a failure (a test that skips unless the broker
# serves what it needs, which Runnel does).
declare -A must_run
allowed=()
for t in "${listed[@]}"; do
  if [[ $t == *'!' ]]; then t=${t%'!'}; must_run[$t]=1; fi
  allowed+=("$t")
done
if [[ ${KGO_ALL:-0} == 1 ]]; then
  run='.*'
elif [[ ${#allowed[@]} -eq 0 ]]; then
  echo "SKIP kgo: tests.allow is empty"; echo "kgo: 0 passed, 0 failed, 1 skipped"; exit 0
else
  run="^($(IFS='|'; echo "${allowed[*]}"))\$"
fi

cd "$HERE"
KGO_SEEDS=$B KGO_TEST_RF=1 KGO_TEST_RECORDS=${KGO_TEST_RECORDS:-20000} KGO_LOG_LEVEL=none \
  go test -count=1 -timeout "${KGO_GO_TIMEOUT:-12m}" -v -run "$run" github.com/twmb/franz-go/pkg/kgo >"$LOG" 2>&1
rc=$?
echo "[franz-go] go test exit $rc; log: $LOG" >&2

# top-level results only (subtests are indented)
declare -A result
while read -r _ verdict name _; do
  result[$name]=${verdict%:}
done < <(grep -E '^--- (PASS|FAIL|SKIP): ' "$LOG")
if [[ ${KGO_ALL:-0} != 1 ]]; then
  for t in "${allowed[@]}"; do [[ -n ${result[$t]:-} ]] || result[$t]=NORESULT; done
fi
# reason VERDICT TEST: the first message TEST (or one of its subtests) logged. `go test -v`
# streams log lines (indented) after a `=== RUN|CONT|NAME <test>` marker naming their test.
reason() {
  awk -v t="$2" -v v="$1" '/^=== (RUN|CONT|NAME|PAUSE) / {cur = $3; next}
    /^[^ \t]/ {cur = ""; next}
    (cur == t || index(cur, t "/") == 1) && /\.go:[0-9]+:/ && !/FAILED TESTING|completed in|NOT DELETING/ && !(v == "FAIL" && /does not support/) {
      sub(/^[ \t]+/, ""); print; exit}' "$LOG" | cut -c1-250
}
p=0 f=0 s=0
for t in $(printf '%s\n' "${!result[@]}" | sort); do
  case ${result[$t]} in
    PASS) p=$((p + 1)); echo "PASS $t" ;;
    SKIP) if [[ -n ${must_run[$t]:-} ]]; then
            f=$((f + 1)); echo "FAIL $t: skipped, but it must run here: $(reason SKIP "$t")"
          else
            s=$((s + 1)); echo "SKIP $t: $(reason SKIP "$t")"
          fi ;;
    FAIL) f=$((f + 1)); echo "FAIL $t: $(reason FAIL "$t")" ;;
    *) f=$((f + 1)); echo "FAIL $t: no result (go test exit $rc: timeout or panic; see $LOG)" ;;
  esac
done
if grep -qE '^panic:|^FAIL.*\[build failed\]|test timed out' "$LOG"; then
  echo "[franz-go] $(grep -m1 -E '^panic:|build failed|test timed out' "$LOG")" >&2
fi
echo "kgo: $p passed, $f failed, $s skipped"
[[ $f -eq 0 && ( $rc -eq 0 || ${KGO_ALL:-0} == 1 ) ]]
