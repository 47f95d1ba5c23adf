# compat/common.sh -- shared helpers for the real-client suites (sourced, not executed).
#
# What this file owns:
#   * installing the client tooling idempotently:
#       rn_install_python   venv ${RUNNEL_CACHE}/py-compat with PyPI confluent-kafka (librdkafka)
#       rn_install_franz    the franz-go v1.22.3 module (and its tests' deps) in the Go module
#                           cache, resolved from compat/franz-go/go.mod (GOTOOLCHAIN=local)
#       rn_install_java     a JDK and Maven if missing (apt), then the Kafka 4.4.0 jars
#                           (compat/kafka-tools.sh: kt_install)
#       rn_install_selenium Selenium ${SELENIUM_VERSION} into the same venv (the console suite)
#       rn_install_chromium Debian's chromium and chromium-driver when missing (apt, as root)
#       rn_install_apicurio Apicurio Registry ${APICURIO_VERSION} (Maven Central
#                           io.apicurio:apicurio-registry-app:tar.gz:all, a Quarkus runner jar
#                           and its lib/) unpacked into ${RUNNEL_CACHE}/apicurio-registry-VERSION
#   * running the real `runnel` binary on loopback for a suite:
#       rn_free_port                   print a free TCP port on 127.0.0.1
#       rn_broker_start DIR [KEY=VAL]  start $RUNNEL_BIN serve on a free port with log.dirs=DIR/data,
#                                      sets RN_PORT, RN_BOOTSTRAP, RN_PID, RN_BROKER_LOG
#       rn_broker_restart DIR [KEY=VAL]
#                                      after rn_broker_stop: the same, on the same port ($RN_PORT)
#                                      and DIR/data, so clients find the broker where it was
#       rn_broker_stop                 SIGTERM, wait up to RN_STOP_SECS (30) for exit; returns 0
#                                      only when the broker exited with status 0 in time
#                                      (SIGKILL after the bound, and then returns 1)
#   * suite-result lines: suites print `PASS name` / `FAIL name: why` / `SKIP name: why`;
#     rn_case NAME CMD... runs CMD (with output to the suite log) and prints such a line.
#
# Environment: RUNNEL_BIN (default <repo>/target/release/runnel), RUNNEL_CACHE (~/.cache/runnel),
#   CONFLUENT_KAFKA_VERSION (2.16.1), RN_STOP_SECS (30), APICURIO_VERSION (3.0.9),
#   SELENIUM_VERSION (4.51.0).

RN_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=kafka-tools.sh
source "$RN_REPO/compat/kafka-tools.sh"
RUNNEL_BIN=${RUNNEL_BIN:-$RN_REPO/target/release/runnel}
CONFLUENT_KAFKA_VERSION=${CONFLUENT_KAFKA_VERSION:-2.16.1}
KAFKA_PYTHON_VERSION=${KAFKA_PYTHON_VERSION:-3.0.12}
APICURIO_VERSION=${APICURIO_VERSION:-3.0.9}
SELENIUM_VERSION=${SELENIUM_VERSION:-4.51.0}
APICURIO_HOME="$RUNNEL_CACHE/apicurio-registry-$APICURIO_VERSION"
RN_VENV="$RUNNEL_CACHE/py-compat"
RN_PY="$RN_VENV/bin/python"

rn_log() { printf '[compat] %s\n' "$*" >&2; }

# rn_install_kafka_python: kafka-python (pure Python) into the same venv, after confluent-kafka.
rn_install_kafka_python() {
  rn_install_python || return 1
  if "$RN_PY" -c "import kafka, sys; sys.exit(kafka.__version__ != '$KAFKA_PYTHON_VERSION')" 2>/dev/null; then
    return 0
  fi
  rn_log "installing kafka-python==$KAFKA_PYTHON_VERSION into $RN_VENV"
  "$RN_VENV/bin/pip" install -q "kafka-python==$KAFKA_PYTHON_VERSION"
}

# rn_install_selenium: Selenium (pure Python; it drives the chromedriver that rn_install_chromium
# brings, never one of its own) into the same venv, after confluent-kafka.
rn_install_selenium() {
  rn_install_python || return 1
  if "$RN_PY" -c "import selenium, sys; sys.exit(selenium.__version__ != '$SELENIUM_VERSION')" 2>/dev/null; then
    return 0
  fi
  rn_log "installing selenium==$SELENIUM_VERSION into $RN_VENV"
  "$RN_VENV/bin/pip" install -q "selenium==$SELENIUM_VERSION"
}

# rn_install_chromium: Debian's headless-capable Chromium and its chromedriver (the same build),
# installed with apt when either is missing; needs root.
rn_install_chromium() {
  command -v chromium >/dev/null && command -v chromedriver >/dev/null && return 0
  [[ $(id -u) -eq 0 ]] || { rn_log "chromium/chromedriver missing and not root to apt-get install them"; return 1; }
  rn_log "installing chromium chromium-driver (apt)"
  rn_apt_install chromium chromium-driver || { rn_log "apt-get install chromium chromium-driver failed"; return 1; }
  command -v chromium >/dev/null && command -v chromedriver >/dev/null
}

rn_install_python() {
  if [[ -x "$RN_PY" ]] && "$RN_PY" -c "import confluent_kafka, sys; sys.exit(confluent_kafka.__version__ != '$CONFLUENT_KAFKA_VERSION')" 2>/dev/null; then
    return 0
  fi
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    rn_log "installing python3-venv (apt)"
    rn_apt_install python3-venv || return 1
  fi
  rn_log "installing confluent-kafka==$CONFLUENT_KAFKA_VERSION into $RN_VENV"
  rm -rf "$RN_VENV"
  python3 -m venv "$RN_VENV" && "$RN_VENV/bin/pip" install -q "confluent-kafka==$CONFLUENT_KAFKA_VERSION"
}

# rn_install_java: a JDK and Maven (Debian packages when missing), then the Kafka 4.4.0 jars.
rn_install_java() {
  local pkgs=()
  command -v java >/dev/null && command -v javac >/dev/null || pkgs+=(openjdk-17-jdk-headless)
  command -v mvn >/dev/null || pkgs+=(maven)
  if [[ ${#pkgs[@]} -gt 0 ]]; then rn_log "installing ${pkgs[*]} (apt)"; rn_apt_install "${pkgs[@]}" || return 1; fi
  kt_install
}

# rn_install_apicurio: Java (rn_install_java, which also brings the Kafka tools) and curl, then
# the Apicurio Registry distribution from Maven Central through mvn (checksums checked by Maven;
# the tarball stays in ~/.m2). 3.0.x is the newest line whose classes run on Java 17 (3.3.x is
# built for Java 21, which Debian 12 does not ship).
rn_install_apicurio() {
  rn_install_java || return 1
  if ! command -v curl >/dev/null; then rn_log "installing curl (apt)"; rn_apt_install curl || return 1; fi
  local jar="$APICURIO_HOME/apicurio-registry-app-$APICURIO_VERSION-runner.jar"
  [[ -f "$APICURIO_HOME/.installed" && -f "$jar" ]] && return 0
  rn_log "installing Apicurio Registry $APICURIO_VERSION into $APICURIO_HOME (Maven Central)"
  rm -rf "$APICURIO_HOME.tmp" && mkdir -p "$APICURIO_HOME.tmp" || return 1
  (cd "$APICURIO_HOME.tmp" && "$KT_MVN" -q -B -Dstyle.color=never dependency:copy \
      -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" -DoutputDirectory=.) \
    || { rn_log "maven failed"; return 1; }
  local tgz="$APICURIO_HOME.tmp/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz"
  tar -xzf "$tgz" -C "$APICURIO_HOME.tmp" && rm -f "$tgz" || return 1
  [[ -f "$APICURIO_HOME.tmp/${jar##*/}" ]] || { rn_log "no ${jar##*/} in the distribution"; return 1; }
  rm -rf "$APICURIO_HOME" && mv "$APICURIO_HOME.tmp" "$APICURIO_HOME" || return 1
  date -u +%FT%TZ >"$APICURIO_HOME/.installed"
}

rn_install_franz() {
  command -v go >/dev/null || { rn_log "go not found"; return 1; }
  (cd "$RN_REPO/compat/franz-go" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download -x 2>/dev/null \
     && GOTOOLCHAIN=local GOFLAGS=-mod=mod go list -test -deps github.com/twmb/franz-go/pkg/kgo >/dev/null)
}

RN_APT_UPDATED=
rn_apt_install() {
  command -v apt-get >/dev/null || { rn_log "apt-get not available to install $*"; return 1; }
  if [[ -z "$RN_APT_UPDATED" ]]; then apt-get update -qq >/dev/null && RN_APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

rn_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# rn_broker_start DIR [KEY=VALUE...]: extra arguments become --override flags.
rn_broker_start() {
  local port
  port=$(rn_free_port) || return 1
  rn_broker_start_at "$port" "$@"
}

# rn_broker_restart DIR [KEY=VALUE...]: start again on the port of the last broker, once it is
# stopped (rn_broker_stop), with the same log dir when DIR is the same.
rn_broker_restart() {
  [[ -n "${RN_PORT:-}" ]] || { rn_log "rn_broker_restart: no broker was started before"; return 1; }
  [[ -z "${RN_PID:-}" ]] || { rn_log "rn_broker_restart: broker $RN_PID is still running"; return 1; }
  rn_broker_start_at "$RN_PORT" "$@"
}

# rn_broker_start_at PORT DIR [KEY=VALUE...]: what rn_broker_start and rn_broker_restart share.
rn_broker_start_at() {
  local dir=$2 port=$1; shift 2
  local extra=() kv
  for kv in "$@"; do extra+=(--override "$kv"); done
  mkdir -p "$dir/data"
  RN_PORT=$port
  RN_BOOTSTRAP=127.0.0.1:$RN_PORT
  RN_BROKER_LOG="$dir/broker.log"
  # runnel reads RUNNEL_* variables as configuration (RUNNEL_BIN would be key `bin`): drop them
  local unset=() v
  for v in $(compgen -e | grep '^RUNNEL_' | grep -v '^RUNNEL_LOG$'); do unset+=(-u "$v"); done
  env ${unset[@]+"${unset[@]}"} "$RUNNEL_BIN" serve --override "listeners=PLAINTEXT://$RN_BOOTSTRAP" \
      --override "log.dirs=$dir/data" ${extra[@]+"${extra[@]}"} >>"$RN_BROKER_LOG" 2>&1 &
  RN_PID=$!
  local i up=false
  for ((i = 0; i < 200; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$RN_PORT") 2>/dev/null; then up=true; break; fi
    kill -0 "$RN_PID" 2>/dev/null || break
    sleep 0.1
  done
  if ! $up; then
    rn_log "runnel did not listen on $RN_BOOTSTRAP; log: $RN_BROKER_LOG"
    tail -20 "$RN_BROKER_LOG" >&2
    kill -9 "$RN_PID" 2>/dev/null; wait "$RN_PID" 2>/dev/null; RN_PID=
    return 1
  fi
}

# rn_broker_stop: SIGTERM and check a clean exit (status 0) within RN_STOP_SECS.
rn_broker_stop() {
  [[ -n "${RN_PID:-}" ]] || return 0
  local pid=$RN_PID i rc secs=${RN_STOP_SECS:-30}
  RN_PID=
  kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; rn_log "broker $pid was already gone"; return 1; }
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    rn_log "broker $pid still running ${secs}s after SIGTERM; killing it"
    kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    return 1
  fi
  wait "$pid"; rc=$?
  [[ $rc -eq 0 ]] || rn_log "broker exited with status $rc after SIGTERM"
  return "$rc"
}

# rn_case NAME CMD...: run CMD with a timeout-free shell (CMD bounds itself), print PASS/FAIL.
rn_case() {
  local name=$1; shift
  local out
  if out=$("$@" 2>&1); then
    printf '%s\n' "$out" >>"${RN_SUITE_LOG:-/dev/null}"
    echo "PASS $name"
  else
    local rc=$?
    printf '%s\n' "$out" >>"${RN_SUITE_LOG:-/dev/null}"
    echo "FAIL $name: exit $rc: $(printf '%s' "$out" | grep -v '^\s*at ' | grep -v '^\[' | tail -2 | tr '\n' ' ' | cut -c1-300)"
  fi
}
