#!/usr/bin/env bash
# compat/security/run.sh -- listener security (TLS, mutual TLS, SASL_SSL) with real clients.
# Owns the "security" suite of compat/run.sh: it makes a test PKI (certs.sh, openssl), starts
# its own broker with six listeners, runs librdkafka, Java, Kafka's CLI tools and franz-go's SASL
# tests against them, and stops everything it started.
#
#   compat/security/run.sh RUNNEL_BIN WORK_DIR
#
# The broker (one node, 127.0.0.1, free ports):
#   PLAINTEXT  plain, for the "still serves" checks
#   SSL        TLS, PEM key store WORK_DIR/certs/broker.pem (ssl.keystore.location)
#   MTLS       protocol SSL (listener.security.protocol.map MTLS:SSL) with
#              listener.name.mtls.ssl.client.auth=required and a PEM trust store (ca.pem)
#   SASL_SSL   TLS + SASL, listener.name.sasl_ssl.sasl.enabled.mechanisms = MECHANISMS below,
#              users from listener.name.sasl_ssl.plain.sasl.jaas.config (user_alice, user_admin),
#              SCRAM users (carol, dave) made with kafka-configs (ConfigCommand) on PLAINTEXT
#   SCRAM      protocol SASL_PLAINTEXT with SCRAM-SHA-256 and SCRAM-SHA-512, for franz-go's own
#              TestSCRAMAuth / TestSCRAMAuthBadCredentials (KGO_TEST_SCRAM_SEEDS, KGO_TEST_SCRAM)
#   OAUTH      protocol SASL_PLAINTEXT (OAUTH:SASL_PLAINTEXT) with OAUTHBEARER only and no
#              sasl.server.callback.handler.class: Kafka's default unsecured validator (unsigned
#              {"alg":"none"} tokens, sub and exp required), with the JAAS entry a Kafka broker
#              needs (listener.name.oauth.oauthbearer.sasl.jaas.config); for the java.oauthbearer.*
#              cases and franz-go's TestOAuthAuth (KGO_TEST_OAUTH_SEEDS)
#
# Cases (PASS/FAIL/SKIP lines; INFO lines carry figures):
#   clients.py (librdkafka via confluent-kafka, and raw Kafka frames over Python's ssl): tls.*,
#     mtls.*, sasl.*, hostile.* -- the list is in its docstring; among them 1,000 wrong-password
#     PLAIN logins with the good client's latency before and during them (INFO)
#   SecurityClients.java (kafka-clients 4.4.0): java.tls.*, java.mtls.*, java.sasl.MECH.*,
#     java.oauthbearer.* (OAUTH listener: a round trip with the client's own unsigned token, an
#     expired login refused with invalid_token, raw SaslAuthenticate exchanges for expired, garbage
#     and exp-less tokens: challenge {"status":"invalid_token"}, then 58 after the client's 0x01)
#   tools.sasl_ssl.topics_create / topics_list    TopicCommand --command-config client.properties
#   tools.sasl_ssl.console_round_trip             ConsoleProducer -> ConsoleConsumer, 100 lines
#   tools.sasl_ssl.wrong_password_fails           TopicCommand --list fails with an auth error
#   tools.mtls.topics_list                        TopicCommand with a PEM client key store
#   runnel.sasl_ssl.MECH.topic_list             `runnel topic list --command-config` per mechanism
#   runnel.sasl_ssl.topic_create / round_trip     runnel topic create, produce -> consume, 100 keyed lines
#   runnel.sasl_ssl.bench                         runnel bench produce 2,000 + consume 2,100 (the 100 above too)
#   runnel.sasl_ssl.wrong_password_fails          exit 1 with SASL_AUTHENTICATION_FAILED, nothing listed
#   runnel.mtls.topic_describe / no_certificate_refused   the PEM client key store; without it, refused
#   franz-go.scram-sha-256/512.TestSCRAMAuth, franz-go.TestSCRAMAuthBadCredentials
#   franz-go.TestOAuthAuth                        franz-go's own OAUTHBEARER test on OAUTH: an
#                                                 unexpired unsigned token pings, an expired one
#                                                 fails with SASL_AUTHENTICATION_FAILED / invalid_token
#   broker.alive, broker.no_panic, broker.sigterm_exit_0
#   acls.*                                        acls.sh (WORK_DIR/acls): ACLs with Kafka's ACL tool
#                                                 and Java clients on a broker of its own, started
#                                                 after this one stops (the list is in its header)
#   quotas.*                                      quotas.sh (WORK_DIR/quotas): client quotas with Kafka's
#                                                 ConfigCommand and Java clients on a broker of its
#                                                 own, started after acls.sh's stops (the list is in
#                                                 its header)
#
# MECHANISMS (RN_SECURITY_MECHANISMS, default "PLAIN SCRAM-SHA-256 SCRAM-SHA-512"): every client
# case runs once per mechanism; sasl_setup creates the SCRAM credentials through ConfigCommand
# once the broker runs.
# Logs: WORK_DIR/broker/broker.log (broker::server at debug: TLS handshake failures),
# WORK_DIR/{clients,java}.err, WORK_DIR/tools.log.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common.sh
source "$HERE/../common.sh"
RUNNEL_BIN=${1:?usage: run.sh RUNNEL_BIN WORK_DIR}
WORK=${2:?usage: run.sh RUNNEL_BIN WORK_DIR}
rm -rf "$WORK"; mkdir -p "$WORK"
RN_SUITE_LOG="$WORK/tools.log"
CERTS="$WORK/certs"
FAILED_LOGINS=${RN_SECURITY_FAILED_LOGINS:-1000}

read -r -a MECHANISMS <<<"${RN_SECURITY_MECHANISMS:-PLAIN SCRAM-SHA-256 SCRAM-SHA-512}"
declare -A SASL_USER=([PLAIN]=alice [SCRAM-SHA-256]=carol [SCRAM-SHA-512]=dave)
declare -A SASL_PASS=([PLAIN]=alice-secret [SCRAM-SHA-256]=carol-secret [SCRAM-SHA-512]=dave-secret)
PLAIN_JAAS='org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret" user_admin="admin-secret";'

trap '[[ -n "${RN_PID:-}" ]] && kill -9 "$RN_PID" 2>/dev/null' EXIT
failures=0
pass() { echo "PASS $1"; }
fail() { failures=$((failures + 1)); echo "FAIL $1: $2"; }
kt() { timeout "${KT_BOUND:-60}" "$HERE/../kafka-tools.sh" run "$@"; }
errline() { grep -E 'Exception|ERROR|Error' "$1" | grep -v '^\s*at ' | head -2 | tr '\n' ' ' | cut -c1-300; }

if ! "$HERE/certs.sh" "$CERTS" >"$WORK/certs.log" 2>&1; then
  fail certs "certs.sh failed: $(tail -2 "$WORK/certs.log" | tr '\n' ' ')"; exit 1
fi

P_PLAIN=$(rn_free_port) P_SSL=$(rn_free_port) P_MTLS=$(rn_free_port) P_SASL=$(rn_free_port)
P_SCRAM=$(rn_free_port) P_OAUTH=$(rn_free_port)
PLAIN=127.0.0.1:$P_PLAIN SSL=127.0.0.1:$P_SSL MTLS=127.0.0.1:$P_MTLS SASL_SSL=127.0.0.1:$P_SASL
SCRAM=127.0.0.1:$P_SCRAM OAUTH=127.0.0.1:$P_OAUTH
OAUTH_JAAS='org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="admin";'

OVERRIDES=(
  "listeners=PLAINTEXT://$PLAIN,SSL://$SSL,SASL_SSL://$SASL_SSL,MTLS://$MTLS,SCRAM://$SCRAM,OAUTH://$OAUTH"
  "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,MTLS:SSL,SCRAM:SASL_PLAINTEXT,OAUTH:SASL_PLAINTEXT"
  "listener.name.scram.sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512"
  "listener.name.oauth.sasl.enabled.mechanisms=OAUTHBEARER"
  "listener.name.oauth.oauthbearer.sasl.jaas.config=$OAUTH_JAAS"
  "ssl.keystore.location=$CERTS/broker.pem"
  "listener.name.mtls.ssl.client.auth=required"
  "listener.name.mtls.ssl.truststore.location=$CERTS/ca.pem"
  "listener.name.sasl_ssl.sasl.enabled.mechanisms=$(IFS=,; echo "${MECHANISMS[*]}")"
)
for m in "${MECHANISMS[@]}"; do
  case "$m" in
    PLAIN) OVERRIDES+=("listener.name.sasl_ssl.plain.sasl.jaas.config=$PLAIN_JAAS") ;;
    SCRAM-SHA-256|SCRAM-SHA-512)
      OVERRIDES+=("listener.name.sasl_ssl.${m,,}.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;") ;;
    *) fail config "unknown SASL mechanism $m"; exit 1 ;;
  esac
done

# sec_broker_start: like rn_broker_start (common.sh), with this suite's listeners; up when every
# listener accepts TCP connections.
sec_broker_start() {
  local dir="$WORK/broker" unset=() v kv args=() p i up
  mkdir -p "$dir/data"
  RN_BROKER_LOG="$dir/broker.log"
  for v in $(compgen -e | grep '^RUNNEL_' | grep -v '^RUNNEL_LOG$'); do unset+=(-u "$v"); done
  for kv in "log.dirs=$dir/data" "${OVERRIDES[@]}"; do args+=(--override "$kv"); done
  env ${unset[@]+"${unset[@]}"} RUNNEL_LOG="${RUNNEL_LOG:-info},broker::server=debug" \
    "$RUNNEL_BIN" serve "${args[@]}" >>"$RN_BROKER_LOG" 2>&1 &
  RN_PID=$!
  for p in $P_PLAIN $P_SSL $P_MTLS $P_SASL $P_SCRAM $P_OAUTH; do
    up=false
    for ((i = 0; i < 200; i++)); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then up=true; break; fi
      kill -0 "$RN_PID" 2>/dev/null || break
      sleep 0.1
    done
    if ! $up; then
      kill -9 "$RN_PID" 2>/dev/null; wait "$RN_PID" 2>/dev/null; RN_PID=
      return 1
    fi
  done
}

# sasl_setup MECH: credentials a mechanism needs beyond the broker's config (SCRAM users are
# created through ConfigCommand on the PLAINTEXT listener; PLAIN users live in the JAAS entry).
sasl_setup() {
  local m=$1
  case "$m" in
    PLAIN) return 0 ;;
    SCRAM-*) kt org.apache.kafka.tools.ConfigCommand --bootstrap-server "$PLAIN" --alter --entity-type users \
               --entity-name "${SASL_USER[$m]}" --add-config "$m=[iterations=4096,password=${SASL_PASS[$m]}]" \
               >>"$RN_SUITE_LOG" 2>&1 ;;
  esac
}

if ! sec_broker_start; then
  fail broker_start "the broker did not listen on all six ports: $(tail -3 "$RN_BROKER_LOG" | tr '\n' ' ' | cut -c1-300)"
  exit 1
fi
echo "INFO listeners PLAINTEXT=$PLAIN SSL=$SSL MTLS=$MTLS SASL_SSL=$SASL_SSL SCRAM=$SCRAM OAUTH=$OAUTH, mechanisms ${MECHANISMS[*]}"
sasl_args=()
for m in "${MECHANISMS[@]}"; do
  if sasl_setup "$m"; then sasl_args+=(--sasl "$m:${SASL_USER[$m]}:${SASL_PASS[$m]}")
  else fail "sasl_setup.${m,,}" "creating the $m credential failed (see $RN_SUITE_LOG)"; fi
done

# 1. librdkafka and raw frames.
if [[ -x "$RN_PY" ]]; then
  timeout 300 "$RN_PY" "$HERE/clients.py" --plaintext "$PLAIN" --ssl "$SSL" --mtls "$MTLS" --sasl-ssl "$SASL_SSL" \
    --certs "$CERTS" ${sasl_args[@]+"${sasl_args[@]}"} --failed-logins "$FAILED_LOGINS" 2>"$WORK/clients.err" \
    | grep -E '^(PASS|FAIL|SKIP|INFO) '
  rc=${PIPESTATUS[0]}
  [[ $rc -eq 0 ]] || failures=$((failures + 1))
  [[ $rc -eq 0 || $rc -eq 1 ]] || fail clients.py "exit status $rc (124: timed out; see $WORK/clients.err)"
else
  echo "SKIP librdkafka: no confluent-kafka venv at $RN_PY"
fi

# 2. Java kafka-clients.
KT_BOUND=180 kt "$HERE/SecurityClients.java" --ssl "$SSL" --mtls "$MTLS" --sasl-ssl "$SASL_SSL" --certs "$CERTS" \
  ${sasl_args[@]+"${sasl_args[@]}"} --oauth "$OAUTH" 2>"$WORK/java.err" | grep -E '^(PASS|FAIL|SKIP|INFO) '
rc=${PIPESTATUS[0]}
[[ $rc -eq 0 ]] || failures=$((failures + 1))
[[ $rc -eq 0 || $rc -eq 1 ]] || fail java "exit status $rc (124: timed out; see $WORK/java.err)"

# 3. Kafka's CLI over SASL_SSL (the first mechanism, as admin when PLAIN) and over MTLS.
m=${MECHANISMS[0]}
cli_user=${SASL_USER[$m]} cli_pass=${SASL_PASS[$m]}
[[ $m == PLAIN ]] && cli_user=admin cli_pass=admin-secret
module=org.apache.kafka.common.security.plain.PlainLoginModule
[[ $m == SCRAM-* ]] && module=org.apache.kafka.common.security.scram.ScramLoginModule
client_props() {
  cat <<EOF
security.protocol=SASL_SSL
sasl.mechanism=$m
sasl.jaas.config=$module required username="$1" password="$2";
ssl.truststore.type=PEM
ssl.truststore.location=$CERTS/ca.pem
EOF
}
client_props "$cli_user" "$cli_pass" >"$WORK/client.properties"
client_props "$cli_user" "$cli_pass-wrong" >"$WORK/client-wrong.properties"
cat >"$WORK/client-mtls.properties" <<EOF
security.protocol=SSL
ssl.truststore.type=PEM
ssl.truststore.location=$CERTS/ca.pem
ssl.keystore.type=PEM
ssl.keystore.location=$CERTS/client.pem
EOF
T=sec-cli-$RANDOM
topics() { kt org.apache.kafka.tools.TopicCommand --bootstrap-server "$1" --command-config "$2" "${@:3}"; }

topics "$SASL_SSL" "$WORK/client.properties" --create --topic "$T" --partitions 2 --replication-factor 1 \
  >"$WORK/out" 2>"$WORK/err"
if grep -q "Created topic $T" "$WORK/out"; then pass tools.sasl_ssl.topics_create
else fail tools.sasl_ssl.topics_create "$(cat "$WORK/out" | tr '\n' ' ' | cut -c1-150) $(errline "$WORK/err")"; fi
cat "$WORK/out" "$WORK/err" >>"$RN_SUITE_LOG"

topics "$SASL_SSL" "$WORK/client.properties" --list >"$WORK/out" 2>"$WORK/err"
if grep -qx "$T" "$WORK/out"; then pass tools.sasl_ssl.topics_list
else fail tools.sasl_ssl.topics_list "$T not in: $(tr '\n' ' ' <"$WORK/out" | cut -c1-150) $(errline "$WORK/err")"; fi
cat "$WORK/out" "$WORK/err" >>"$RN_SUITE_LOG"

seq 1 100 | sed 's/^/line-/' >"$WORK/in.txt"
kt org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$SASL_SSL" --topic "$T" \
  --command-config "$WORK/client.properties" --command-property acks=all <"$WORK/in.txt" >>"$RN_SUITE_LOG" 2>"$WORK/err"
prc=$?
cat "$WORK/err" >>"$RN_SUITE_LOG"
kt org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$SASL_SSL" --topic "$T" \
  --command-config "$WORK/client.properties" --from-beginning --max-messages 100 --timeout-ms 20000 \
  >"$WORK/out" 2>"$WORK/err"
cat "$WORK/err" >>"$RN_SUITE_LOG"
if [[ $prc -eq 0 && "$(sort "$WORK/out")" == "$(sort "$WORK/in.txt")" ]]; then pass tools.sasl_ssl.console_round_trip
else fail tools.sasl_ssl.console_round_trip "producer exit $prc, consumer read $(wc -l <"$WORK/out")/100 lines $(errline "$WORK/err")"; fi

KT_BOUND=45 topics "$SASL_SSL" "$WORK/client-wrong.properties" --list >"$WORK/out" 2>"$WORK/err"
rc=$?
cat "$WORK/out" "$WORK/err" >>"$RN_SUITE_LOG"
if [[ $rc -ne 0 && $rc -ne 124 ]] && grep -Eq 'SaslAuthenticationException|Authentication failed' "$WORK/err" "$WORK/out" \
   && ! grep -qx "$T" "$WORK/out"; then
  pass tools.sasl_ssl.wrong_password_fails
  echo "INFO tools.sasl_ssl.wrong_password_fails: $(grep -hE 'SaslAuthenticationException|Authentication failed' "$WORK/err" "$WORK/out" | head -1 | cut -c1-250)"
else fail tools.sasl_ssl.wrong_password_fails "exit $rc (124: hung), $(errline "$WORK/err")"; fi

topics "$MTLS" "$WORK/client-mtls.properties" --list >"$WORK/out" 2>"$WORK/err"
if grep -qx "$T" "$WORK/out"; then pass tools.mtls.topics_list
else fail tools.mtls.topics_list "$T not in: $(tr '\n' ' ' <"$WORK/out" | cut -c1-150) $(errline "$WORK/err")"; fi
cat "$WORK/out" "$WORK/err" >>"$RN_SUITE_LOG"

# 3b. The runnel client subcommands with the same kind of properties files (--command-config).
rn_client() { timeout 60 "$RUNNEL_BIN" "$@" >"$WORK/out" 2>"$WORK/err"; local rc=$?; cat "$WORK/out" "$WORK/err" >>"$RN_SUITE_LOG"; return $rc; }
for m in "${MECHANISMS[@]}"; do
  module=org.apache.kafka.common.security.plain.PlainLoginModule
  [[ $m == SCRAM-* ]] && module=org.apache.kafka.common.security.scram.ScramLoginModule
  sed -e "s/^sasl.mechanism=.*/sasl.mechanism=$m/" \
      -e "s/^sasl.jaas.config=.*/sasl.jaas.config=$module required username=\"${SASL_USER[$m]}\" password=\"${SASL_PASS[$m]}\";/" \
      "$WORK/client.properties" >"$WORK/runnel-$m.properties"
  rn_client topic list --bootstrap-server "$SASL_SSL" --command-config "$WORK/runnel-$m.properties"
  if grep -qx "$T" "$WORK/out"; then pass "runnel.sasl_ssl.${m,,}.topic_list"
  else fail "runnel.sasl_ssl.${m,,}.topic_list" "$T not in: $(tr '\n' ' ' <"$WORK/out" | cut -c1-150) $(head -c 300 "$WORK/err")"; fi
done
RT=sec-runnel-$RANDOM
rn_client topic create "$RT" --partitions 2 --bootstrap-server "$SASL_SSL" --command-config "$WORK/client.properties"
if grep -qx "Created topic $RT." "$WORK/out"; then pass runnel.sasl_ssl.topic_create
else fail runnel.sasl_ssl.topic_create "$(head -c 300 "$WORK/err")"; fi
seq 1 100 | sed 's/^/k-&:v-/' >"$WORK/runnel-in.txt"
timeout 60 "$RUNNEL_BIN" produce "$RT" --key-separator : --bootstrap-server "$SASL_SSL" \
  --command-config "$WORK/client.properties" <"$WORK/runnel-in.txt" >>"$RN_SUITE_LOG" 2>"$WORK/err"
prc=$?
rn_client consume "$RT" --from-beginning --max-messages 100 --format '{key}:{value}' \
  --bootstrap-server "$SASL_SSL" --command-config "$WORK/client.properties"
if [[ $prc -eq 0 && "$(sort "$WORK/out")" == "$(sort "$WORK/runnel-in.txt")" ]]; then pass runnel.sasl_ssl.round_trip
else fail runnel.sasl_ssl.round_trip "produce exit $prc, consumed $(wc -l <"$WORK/out")/100: $(head -c 300 "$WORK/err")"; fi
# runnel bench over SASL_SSL: its pipelined connections authenticate too.
rn_client bench produce "$RT" --num-records 2000 --record-size 100 --format json \
  --bootstrap-server "$SASL_SSL" --command-config "$WORK/client.properties"
brc=$?
b_records=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["records"])' <"$WORK/out" 2>/dev/null)
rn_client bench consume "$RT" --num-records 2100 --format json \
  --bootstrap-server "$SASL_SSL" --command-config "$WORK/client.properties"
crc=$?
c_records=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["records"])' <"$WORK/out" 2>/dev/null)
if [[ $brc -eq 0 && $crc -eq 0 && $b_records == 2000 && $c_records == 2100 ]]; then pass runnel.sasl_ssl.bench
else fail runnel.sasl_ssl.bench "produce exit $brc ($b_records records), consume exit $crc ($c_records of 2100): $(head -c 300 "$WORK/err")"; fi
rn_client topic list --bootstrap-server "$SASL_SSL" --command-config "$WORK/client-wrong.properties"
rc=$?
if [[ $rc -eq 1 ]] && grep -q "SASL_AUTHENTICATION_FAILED" "$WORK/err" && [[ ! -s "$WORK/out" ]]; then
  pass runnel.sasl_ssl.wrong_password_fails
  echo "INFO runnel.sasl_ssl.wrong_password_fails: $(head -1 "$WORK/err" | cut -c1-250)"
else fail runnel.sasl_ssl.wrong_password_fails "exit $rc: $(head -c 300 "$WORK/err")"; fi
rn_client topic describe "$RT" --bootstrap-server "$MTLS" --command-config "$WORK/client-mtls.properties"
if grep -q "PartitionCount: 2" "$WORK/out"; then pass runnel.mtls.topic_describe
else fail runnel.mtls.topic_describe "$(head -c 300 "$WORK/err")"; fi
# Without the client certificate the MTLS listener refuses the handshake.
grep -v '^ssl.keystore' "$WORK/client-mtls.properties" >"$WORK/client-nocert.properties"
rn_client topic list --bootstrap-server "$MTLS" --command-config "$WORK/client-nocert.properties"
rc=$?
if [[ $rc -eq 1 ]] && grep -qi "tls\|certificate\|connection" "$WORK/err"; then pass runnel.mtls.no_certificate_refused
else fail runnel.mtls.no_certificate_refused "exit $rc: $(head -c 300 "$WORK/err")"; fi

# 4. franz-go's own SASL tests (v1.22.3, compat/franz-go/go.mod): SCRAM on the SCRAM listener, as
#    user kgo for each SCRAM mechanism, and OAUTHBEARER on the OAUTH listener. A SKIP (its seeds
#    variable not seen) is a FAIL here.
if command -v go >/dev/null; then
  kgo_test() {  # kgo_test NAME TEST [VAR=VALUE...]: franz-go's TEST with that environment
    local name=$1 test=$2; shift 2
    (cd "$HERE/../franz-go" && env "$@" KGO_SEEDS=$PLAIN KGO_TEST_RF=1 KGO_LOG_LEVEL=none GOTOOLCHAIN=local \
      GOFLAGS=-mod=mod timeout 240 go test -count=1 -v -run "^$test\$" github.com/twmb/franz-go/pkg/kgo) >"$WORK/kgo.out" 2>&1
    cat "$WORK/kgo.out" >>"$RN_SUITE_LOG"
    if grep -q -- "^--- PASS: $test " "$WORK/kgo.out"; then pass "franz-go.$name"
    else fail "franz-go.$name" "$(grep -E -- '^--- (FAIL|SKIP)|\.go:[0-9]+:' "$WORK/kgo.out" | head -3 | tr '\n' ' ' | cut -c1-300)"; fi
  }
  kgo_scram() { kgo_test "$1" "$2" KGO_TEST_SCRAM_SEEDS="$SCRAM" KGO_TEST_SCRAM="$3"; }  # NAME TEST KGO_TEST_SCRAM
  for bits in 256 512; do
    if kt org.apache.kafka.tools.ConfigCommand --bootstrap-server "$PLAIN" --alter --entity-type users \
         --entity-name kgo --add-config "SCRAM-SHA-$bits=[iterations=4096,password=kgo-secret]" >>"$RN_SUITE_LOG" 2>&1; then
      kgo_scram "scram-sha-$bits.TestSCRAMAuth" TestSCRAMAuth "kgo:kgo-secret:$bits"
    else
      fail "franz-go.scram-sha-$bits.setup" "ConfigCommand could not create kgo's credential (see $RN_SUITE_LOG)"
    fi
  done
  kgo_scram TestSCRAMAuthBadCredentials TestSCRAMAuthBadCredentials "kgo:kgo-secret:256"
  kgo_test TestOAuthAuth TestOAuthAuth KGO_TEST_OAUTH_SEEDS="$OAUTH"
else
  echo "SKIP franz-go: go not found"
fi

# 5. The broker.
if kill -0 "$RN_PID" 2>/dev/null; then pass broker.alive
else fail broker.alive "the broker died (see $RN_BROKER_LOG)"; wait "$RN_PID" 2>/dev/null; RN_PID=; fi
if grep -q 'panicked' "$RN_BROKER_LOG"; then fail broker.no_panic "$(grep -m1 'panicked' "$RN_BROKER_LOG" | cut -c1-300)"
else pass broker.no_panic; fi
echo "INFO broker log: $(grep -c 'TLS handshake failed' "$RN_BROKER_LOG") failed TLS handshakes, $(grep -c 'reason=authentication failed' "$RN_BROKER_LOG") connections closed for a failed authentication"
if [[ -n "${RN_PID:-}" ]]; then
  if rn_broker_stop; then pass broker.sigterm_exit_0
  else fail broker.sigterm_exit_0 "no exit with status 0 within ${RN_STOP_SECS:-30}s of SIGTERM (see $RN_BROKER_LOG)"; fi
fi
"$HERE/acls.sh" "$RUNNEL_BIN" "$WORK/acls" | grep -E '^(PASS|FAIL|SKIP|INFO) '; [[ ${PIPESTATUS[0]} -eq 0 ]] || failures=$((failures + 1))
"$HERE/quotas.sh" "$RUNNEL_BIN" "$WORK/quotas" | grep -E '^(PASS|FAIL|SKIP|INFO) '; [[ ${PIPESTATUS[0]} -eq 0 ]] || failures=$((failures + 1))
[[ $failures -eq 0 ]]
