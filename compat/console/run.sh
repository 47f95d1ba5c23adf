#!/usr/bin/env bash
# compat/console/run.sh -- the web console (crates/broker/src/console) in headless Chromium
# (Debian's chromium and chromium-driver, driven by Selenium). Owns the "console" suite of
# compat/run.sh (issue 14).
#
#   compat/console/run.sh RUNNEL_BIN WORKDIR SCREENSHOTS_DIR
#
# Starts its own `runnel serve` on a free 127.0.0.1 Kafka port with the HTTP listener on another
# free 127.0.0.1 port (http.listeners) and a fresh log dir, then compat/console/console_test.py:
# with confluent-kafka it creates a topic of 3 partitions, produces 5 keyed records with JSON
# values and a header, and has a consumer group consume 2 of them and commit (a known lag of 3);
# then headless Chromium visits #/ (the node), #/topics (the topic, its link), #/topics/NAME
# (partitions with leader, replicas and ISR; the message browser showing the record's key, value
# and header as text, JSON and hex), #/groups (the group, its link), #/groups/ID (total and
# per-partition lag) and an unknown topic (its error shown). Every page: no SEVERE entry in the
# browser's console log, and a screenshot in SCREENSHOTS_DIR (kept as artifacts). At the end the
# broker gets SIGTERM and must exit 0 (case broker.sigterm_exit_0).
# Without chromium/chromedriver (not root, or apt could not install them) the suite prints one
# SKIP line. Cases print `PASS name` / `FAIL name: why`; the broker log, chromedriver's log and
# the browser console logs stay in WORKDIR. Bounded: about 30 s; the driver at most 75 s.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common.sh
source "$HERE/../common.sh"
# shellcheck disable=SC2034  # read by rn_broker_start (common.sh)
RUNNEL_BIN=${1:?usage: compat/console/run.sh RUNNEL_BIN WORKDIR SCREENSHOTS_DIR}
WORK=${2:?usage: compat/console/run.sh RUNNEL_BIN WORKDIR SCREENSHOTS_DIR}
SHOTS=${3:?usage: compat/console/run.sh RUNNEL_BIN WORKDIR SCREENSHOTS_DIR}
rm -rf "$WORK" "$SHOTS" && mkdir -p "$WORK" "$SHOTS" || exit 1
trap 'rn_broker_stop 2>/dev/null' EXIT
trap 'exit 130' INT TERM

missing=()
for c in chromium chromedriver; do command -v "$c" >/dev/null || missing+=("$c"); done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "SKIP console.browser: ${missing[*]} not installed (apt-get install chromium chromium-driver needs root and Debian's packages; see the suite's install.log)"
  exit 0
fi
if ! "$RN_PY" -c 'import selenium, confluent_kafka' 2>/dev/null; then
  echo "FAIL console.python: selenium or confluent-kafka missing from $RN_VENV (rn_install_selenium)"
  exit 1
fi

HTTP_PORT=$(rn_free_port) || exit 1
if ! rn_broker_start "$WORK/broker" "http.listeners=http://127.0.0.1:$HTTP_PORT" \
    "http.console.admin.enable=true"; then
  echo "FAIL broker.start: runnel serve did not listen (see $WORK/broker/broker.log)"
  exit 1
fi

timeout --kill-after=5 120 "$RN_PY" "$HERE/console_test.py" --bootstrap "$RN_BOOTSTRAP" \
  --http "http://127.0.0.1:$HTTP_PORT" --work "$WORK" --screenshots "$SHOTS"
rc=$?
case $rc in
  0|1) ;;
  124|137) echo "FAIL console.bound: console_test.py did not finish within 120 s" ;;
  *) echo "FAIL console.driver: console_test.py exited with status $rc (see the suite's err.txt)" ;;
esac

if ! kill -0 "$RN_PID" 2>/dev/null; then
  echo "FAIL broker.alive: the broker died during the suite (see $WORK/broker/broker.log)"
  wait "$RN_PID" 2>/dev/null; RN_PID=
  rc=1
elif rn_broker_stop; then
  echo "PASS broker.sigterm_exit_0"
else
  echo "FAIL broker.sigterm_exit_0: no exit with status 0 within ${RN_STOP_SECS:-30}s of SIGTERM"
  rc=1
fi
[[ $rc -eq 0 ]]
