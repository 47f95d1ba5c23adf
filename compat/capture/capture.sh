#!/usr/bin/env bash
# compat/capture/capture.sh -- capture golden Kafka wire vectors from real clients against a real
# Apache Kafka broker.
#
#   compat/capture/capture.sh [java] [librdkafka] [franz-go] [librdkafka-gzip]   (default: all)
#
# librdkafka-gzip reruns the librdkafka workload with gzip compression and keeps only its
# Produce and Fetch exchanges (golden/librdkafka-gzip/); the others produce uncompressed.
#
# Steps: install the Kafka jars (compat/kafka-tools.sh), a Python venv with confluent-kafka
# (librdkafka) and the franz-go workload binary; start a reference Kafka 4.4.0 broker (KRaft
# combined) on 127.0.0.1:$BROKER_PORT that advertises the capture proxy's address
# 127.0.0.1:$PROXY_PORT, so every client connection (bootstrap and the ones it learns from
# Metadata/FindCoordinator) goes through the proxy; then for each client start
# kafka_capture.py proxy (which clamps ApiVersions responses to the message specs' validVersions),
# run the client's workload, stop the proxy and extract the first
# exchange of each (api_key, api_version) into $GOLDEN_DIR/<client>/.
#
# Environment:
#   RUNNEL_CACHE   cache root (default ~/.cache/runnel): jars, venv, franz-go binary
#   GOLDEN_DIR     output root (default <repo>/crates/protocol/tests/golden)
#   BROKER_PORT / CONTROLLER_PORT / PROXY_PORT   (default 19092 / 19093 / 19094)
#   CONFLUENT_KAFKA_VERSION  PyPI confluent-kafka version (default 2.16.1)
#   KEEP_RAW=1     keep the raw captures (every exchange) in the work dir, which is printed
#   KAFKA_SPECS    message spec dir (default ../shared/kafka-message-specs-4.4):
#                  the proxy clamps the broker's ApiVersions answer to these specs' validVersions
#                  so clients use the versions our codec supports (see README.md)
# Everything it starts (broker, proxy) is stopped on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=../kafka-tools.sh
source "$REPO/compat/kafka-tools.sh"

GOLDEN_DIR=${GOLDEN_DIR:-$REPO/crates/protocol/tests/golden}
BROKER_PORT=${BROKER_PORT:-19092}
CONTROLLER_PORT=${CONTROLLER_PORT:-19093}
PROXY_PORT=${PROXY_PORT:-19094}
CONFLUENT_KAFKA_VERSION=${CONFLUENT_KAFKA_VERSION:-2.16.1}
VENV="$RUNNEL_CACHE/py-capture"
FRANZ_BIN="$RUNNEL_CACHE/bin/runnel-capture-franz"
PY=${PYTHON:-python3}

CLIENTS=("$@")
[[ ${#CLIENTS[@]} -gt 0 ]] || CLIENTS=(java librdkafka franz-go librdkafka-gzip)
for c in "${CLIENTS[@]}"; do
  case "$c" in java|librdkafka|franz-go|librdkafka-gzip) ;; *) echo "unknown client $c" >&2; exit 2 ;; esac
done

log() { printf '[capture] %s\n' "$*" >&2; }
want() { local c; for c in "${CLIENTS[@]}"; do [[ $c == "$1" ]] && return 0; done; return 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/runnel-capture.XXXXXX")
BROKER_DIR="$WORK/broker"
PROXY_PID=
cleanup() {
  local rc=$?
  if [[ -n "$PROXY_PID" ]] && kill -0 "$PROXY_PID" 2>/dev/null; then kill "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null || true; fi
  [[ -f "$BROKER_DIR/broker.pid" ]] && kt_broker_stop "$BROKER_DIR"
  if [[ "${KEEP_RAW:-0}" == 1 || $rc -ne 0 ]]; then
    log "work dir kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- tools
kt_install
JAVA_CLIENT_VERSION=$KT_KAFKA_VERSION
if want librdkafka || want librdkafka-gzip; then
  if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "import confluent_kafka, sys; sys.exit(confluent_kafka.__version__ != '$CONFLUENT_KAFKA_VERSION')" 2>/dev/null; then
    log "installing confluent-kafka==$CONFLUENT_KAFKA_VERSION into $VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q "confluent-kafka==$CONFLUENT_KAFKA_VERSION"
  fi
  RDKAFKA_VERSION=$("$VENV/bin/python" -c "import confluent_kafka as c; print(c.libversion()[0])")
fi
if want franz-go; then
  log "building the franz-go workload"
  mkdir -p "$(dirname "$FRANZ_BIN")"
  (cd "$HERE/franz" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go build -o "$FRANZ_BIN" .)
  FRANZ_VERSION=$(cd "$HERE/franz" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go list -m -f '{{.Version}}' github.com/twmb/franz-go)
fi
log "versions: broker apache-kafka $KT_KAFKA_VERSION; java kafka-clients $JAVA_CLIENT_VERSION;" \
    "librdkafka ${RDKAFKA_VERSION:-n/a} (confluent-kafka $CONFLUENT_KAFKA_VERSION); franz-go ${FRANZ_VERSION:-n/a};" \
    "java $(java -version 2>&1 | head -1); $($PY --version)"

# ---------------------------------------------------------------- broker
KT_BROKER_PORT=$BROKER_PORT KT_CONTROLLER_PORT=$CONTROLLER_PORT \
KT_ADVERTISED=127.0.0.1:$PROXY_PORT KT_NUM_PARTITIONS=1 \
  kt_broker_start "$BROKER_DIR" >/dev/null
"$PY" "$HERE/kafka_capture.py" warmup --broker "127.0.0.1:$BROKER_PORT"

# ---------------------------------------------------------------- per client
# run_client NAME VERSION_TEXT COMMAND... (COMMAND gets BOOTSTRAP TOPIC GROUP appended);
# EXTRACT_ARGS (array) adds kafka_capture.py extract options.
EXTRACT_ARGS=()
run_client() {
  local client=$1 version=$2; shift 2
  local raw="$WORK/raw-$client" bootstrap="127.0.0.1:$PROXY_PORT"
  local topic="capture-$client" group="capture-$client-group"
  log "== $client ($version)"
  "$PY" "$HERE/kafka_capture.py" proxy --listen "$bootstrap" \
      --upstream "127.0.0.1:$BROKER_PORT" --raw "$raw" &
  PROXY_PID=$!
  kt_wait_port 127.0.0.1 "$PROXY_PORT" 20 || { log "proxy did not start"; return 1; }
  "$@" "$bootstrap" "$topic" "$group"
  sleep 0.5
  kill "$PROXY_PID"; wait "$PROXY_PID" || true; PROXY_PID=
  "$PY" "$HERE/kafka_capture.py" extract --raw "$raw" --out "$GOLDEN_DIR/$client" \
      --client "$client" --meta "client_version=$version" \
      --meta "broker=apache-kafka $KT_KAFKA_VERSION (KRaft combined)" ${EXTRACT_ARGS[@]+"${EXTRACT_ARGS[@]}"}
}

# (plain if-blocks, not `want x && run_client`: errexit is off inside && lists)
if want java; then
  run_client java "kafka-clients $JAVA_CLIENT_VERSION" kt_run "$HERE/java/CaptureClient.java"
fi
if want librdkafka; then
  run_client librdkafka "librdkafka $RDKAFKA_VERSION (confluent-kafka-python $CONFLUENT_KAFKA_VERSION)" \
    "$VENV/bin/python" "$HERE/librdkafka/capture_client.py"
fi
if want franz-go; then
  run_client franz-go "franz-go $FRANZ_VERSION" "$FRANZ_BIN"
fi
if want librdkafka-gzip; then
  EXTRACT_ARGS=(--apis 0,1 --meta compression=gzip)
  run_client librdkafka-gzip "librdkafka $RDKAFKA_VERSION (confluent-kafka-python $CONFLUENT_KAFKA_VERSION)" \
    env CAPTURE_COMPRESSION=gzip "$VENV/bin/python" "$HERE/librdkafka/capture_client.py"
  EXTRACT_ARGS=()
fi

log "done; vectors in $GOLDEN_DIR ($(du -sh "$GOLDEN_DIR" | cut -f1))"
