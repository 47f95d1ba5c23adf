#!/usr/bin/env bash
# compat/security/acls.sh -- ACLs (Kafka's StandardAuthorizer semantics) with Kafka's own ACL tool
# and Java clients. A part of the "security" suite (compat/security/run.sh runs it); it starts
# its own broker and stops everything it started.
#
#   compat/security/acls.sh RUNNEL_BIN WORK_DIR
#
# The broker (one node, 127.0.0.1, a free port): one listener SASL (SASL_PLAINTEXT, PLAIN) with
# users admin, alice and bob in listener.name.sasl.plain.sasl.jaas.config,
# authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer,
# super.users=User:admin (allow.everyone.if.no.acl.found left at its default, false).
# Kafka's CLI runs as admin (WORK_DIR/admin.properties) unless a case says otherwise.
#
# Cases (PASS/FAIL/SKIP lines; INFO lines carry what a denied client saw):
#   acls.admin.create_topics       TopicCommand creates T, U, V, W (1 partition each)
#   acls.cli.add.*                 AclCommand --add for alice: topic T Read/Write/Describe;
#                                  --consumer --group G --topic T; transactional id tx-alice
#                                  Write/Describe; topic V Describe only; topic W All allowed and
#                                  Write denied; group prefix GP (PREFIXED) Read
#   acls.cli.add_denied_for_alice  AclCommand --add with alice's login fails (cluster authorization)
#   acls.cli.list                  --list shows exactly those ten ACLs (creating an existing ACL,
#                                  as --consumer does for T, adds no duplicate)
#   acls.cli.list.topic_filter     --list --topic T: T's three;  acls.cli.list.principal: --principal User:alice
#   AclClients.java phase main     acls.java.alice.* / acls.java.admin.* / acls.java.bob.* (its header)
#   acls.restart.sigterm_exit_0, acls.restart.broker_start, acls.restart.list_same (the ACLs
#                                  survive a restart on the same log dir), AclClients phase restart
#   acls.cli.remove                --remove --force --topic T leaves none on T and the rest
#   acls.cli.remove.deny           --remove --force the DENY on W
#   AclClients.java phase removed  alice can no longer produce to T, can produce to W
#   broker.alive, broker.no_panic, broker.sigterm_exit_0
#   acls.no_authorizer.list / .add a second, plain broker without authorizer.class.name: the ACL
#                                  tool fails with SecurityDisabledException
# Logs: WORK_DIR/broker/broker.log (runnel::authorizer at info: the denials),
# WORK_DIR/plain/broker.log, WORK_DIR/java-PHASE.err, WORK_DIR/tools.log.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common.sh
source "$HERE/../common.sh"
RUNNEL_BIN=${1:?usage: acls.sh RUNNEL_BIN WORK_DIR}
WORK=${2:?usage: acls.sh RUNNEL_BIN WORK_DIR}
rm -rf "$WORK"; mkdir -p "$WORK"
RN_SUITE_LOG="$WORK/tools.log"

trap '[[ -n "${RN_PID:-}" ]] && kill -9 "$RN_PID" 2>/dev/null' EXIT
trap 'exit 130' INT TERM
failures=0
pass() { echo "PASS $1"; }
fail() { failures=$((failures + 1)); echo "FAIL $1: $2"; }
kt() { timeout "${KT_BOUND:-60}" "$HERE/../kafka-tools.sh" run "$@" </dev/null; }
errline() { grep -hE 'Exception|ERROR|Error' "$@" | grep -v '^\s*at ' | head -2 | tr '\n' ' ' | cut -c1-300; }

SUF=$RANDOM
T=t-$SUF U=u-$SUF V=v-$SUF W=w-$SUF G=g-$SUF G2=g2-$SUF GP=gp-$SUF- TXN=tx-alice
PORT=$(rn_free_port)
SASL=127.0.0.1:$PORT
JAAS='org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_alice="alice-secret" user_bob="bob-secret";'
OVERRIDES=(
  "listeners=SASL://$SASL"
  "listener.security.protocol.map=SASL:SASL_PLAINTEXT"
  "listener.name.sasl.sasl.enabled.mechanisms=PLAIN"
  "listener.name.sasl.plain.sasl.jaas.config=$JAAS"
  "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"
  "super.users=User:admin"
)

# acl_broker_start: like sec_broker_start in run.sh, with this part's one listener; the log dir
# WORK_DIR/broker/data is kept across starts. Up when the port accepts TCP connections.
acl_broker_start() {
  local dir="$WORK/broker" unset=() v kv args=() i
  mkdir -p "$dir/data"
  RN_BROKER_LOG="$dir/broker.log"
  for v in $(compgen -e | grep '^RUNNEL_' | grep -v '^RUNNEL_LOG$'); do unset+=(-u "$v"); done
  for kv in "log.dirs=$dir/data" "${OVERRIDES[@]}"; do args+=(--override "$kv"); done
  env ${unset[@]+"${unset[@]}"} RUNNEL_LOG="${RUNNEL_LOG:-info},runnel::authorizer=info" \
    "$RUNNEL_BIN" serve "${args[@]}" >>"$RN_BROKER_LOG" 2>&1 &
  RN_PID=$!
  for ((i = 0; i < 200; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
    kill -0 "$RN_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$RN_PID" 2>/dev/null; wait "$RN_PID" 2>/dev/null; RN_PID=
  return 1
}

props() {
  cat <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$1" password="$2";
request.timeout.ms=10000
default.api.timeout.ms=20000
EOF
}
props admin admin-secret >"$WORK/admin.properties"
props alice alice-secret >"$WORK/alice.properties"

# acl CONFIG ARGS...: Kafka's ACL tool on the SASL listener (CONFIG: the client properties).
acl() { kt org.apache.kafka.tools.AclCommand --bootstrap-server "$SASL" --command-config "$1" "${@:2}"; }

# acl_rows: AclCommand's output on stdin -> one line per ACL,
# RESOURCE_TYPE|NAME|PATTERN_TYPE|PRINCIPAL|HOST|OPERATION|PERMISSION, under the resource named
# before it ("Current ACLs for resource `ResourcePattern(...)`:" then "\t(principal=..., ...)").
acl_rows() {
  grep -oE 'ResourcePattern\(resourceType=[A-Z_]+, name=[^,]*, patternType=[A-Z]+\)|\(principal=[^,]+, host=[^,]+, operation=[A-Z_]+, permissionType=[A-Z]+\)' \
    | sed -E 's/^ResourcePattern\(resourceType=([A-Z_]+), name=([^,]*), patternType=([A-Z]+)\)$/R \1|\2|\3/;
              s/^\(principal=([^,]+), host=([^,]+), operation=([A-Z_]+), permissionType=([A-Z]+)\)$/A \1|\2|\3|\4/' \
    | awk '/^R /{r = substr($0, 3); next} /^A /{print r "|" substr($0, 3)}' | sort
}

# list_check NAME WANT_FILE AclCommand-args...: list as admin; PASS when the rows equal WANT_FILE's.
list_check() {
  local name=$1 want=$2; shift 2
  acl "$WORK/admin.properties" --list "$@" >"$WORK/out" 2>"$WORK/err"
  local rc=$?
  cat "$WORK/out" "$WORK/err" >>"$RN_SUITE_LOG"
  acl_rows <"$WORK/out" >"$WORK/rows"
  local missing extra
  missing=$(comm -23 "$want" "$WORK/rows" | tr '\n' ' ')
  extra=$(comm -13 "$want" "$WORK/rows" | tr '\n' ' ')
  if [[ $rc -eq 0 && -z "$missing" && -z "$extra" ]]; then pass "$name"
  else fail "$name" "exit $rc (124: hung); missing: ${missing:-none}; unexpected: ${extra:-none} $(errline "$WORK/err")"; fi
}

# acl_add NAME ARGS...: AclCommand --add as admin must exit 0.
acl_add() {
  local name=$1; shift
  acl "$WORK/admin.properties" --add "$@" >"$WORK/out" 2>"$WORK/err"
  local rc=$?
  cat "$WORK/out" "$WORK/err" >>"$RN_SUITE_LOG"
  if [[ $rc -eq 0 ]]; then pass "$name"
  else fail "$name" "exit $rc (124: hung) $(errline "$WORK/out" "$WORK/err")"; fi
}

# java_phase PHASE BOUND: AclClients.java; its lines, a non-zero exit counted as a failure.
java_phase() {
  KT_BOUND=$2 kt "$HERE/AclClients.java" --bootstrap "$SASL" --phase "$1" --admin admin:admin-secret \
    --alice alice:alice-secret --bob bob:bob-secret --topic "$T" --other-topic "$U" --describe-topic "$V" \
    --deny-topic "$W" --group "$G" --other-group "$G2" --group-prefix "$GP" --txn "$TXN" --n 50 \
    2>"$WORK/java-$1.err" | grep -E '^(PASS|FAIL|SKIP|INFO) '
  local rc=${PIPESTATUS[0]}
  [[ $rc -eq 0 ]] || failures=$((failures + 1))
  [[ $rc -eq 0 || $rc -eq 1 ]] || echo "FAIL acls.java.$1: exit status $rc (124: timed out after $2 s; see $WORK/java-$1.err)"
}

if ! acl_broker_start; then
  fail broker_start "the broker did not listen on $SASL: $(tail -3 "$RN_BROKER_LOG" | tr '\n' ' ' | cut -c1-300)"
  exit 1
fi
MAIN_LOG=$RN_BROKER_LOG
echo "INFO broker on $SASL (SASL_PLAINTEXT, PLAIN), StandardAuthorizer, super.users=User:admin; T=$T U=$U V=$V W=$W G=$G GP=$GP"

# 1. Topics, as the super user.
created=0
for topic in "$T" "$U" "$V" "$W"; do
  kt org.apache.kafka.tools.TopicCommand --bootstrap-server "$SASL" --command-config "$WORK/admin.properties" \
    --create --topic "$topic" --partitions 1 --replication-factor 1 >"$WORK/out" 2>"$WORK/err"
  cat "$WORK/out" "$WORK/err" >>"$RN_SUITE_LOG"
  grep -q "Created topic $topic" "$WORK/out" && created=$((created + 1))
done
if [[ $created -eq 4 ]]; then pass acls.admin.create_topics
else fail acls.admin.create_topics "$created/4 topics created; last: $(errline "$WORK/out" "$WORK/err")"; fi

# 2. ACLs for alice, with Kafka's ACL tool.
acl_add acls.cli.add.topic --allow-principal User:alice --operation Read --operation Write --operation Describe --topic "$T"
acl_add acls.cli.add.consumer --allow-principal User:alice --consumer --group "$G" --topic "$T"
acl_add acls.cli.add.transactional_id --allow-principal User:alice --operation Write --operation Describe --transactional-id "$TXN"
acl_add acls.cli.add.describe_only --allow-principal User:alice --operation Describe --topic "$V"
acl_add acls.cli.add.allow_all --allow-principal User:alice --operation All --topic "$W"
acl_add acls.cli.add.deny --deny-principal User:alice --operation Write --topic "$W"
acl_add acls.cli.add.prefixed_group --allow-principal User:alice --operation Read --group "$GP" --resource-pattern-type prefixed

acl "$WORK/alice.properties" --add --allow-principal User:alice --operation All --topic "$U" >"$WORK/out" 2>"$WORK/err"
rc=$?
cat "$WORK/out" "$WORK/err" >>"$RN_SUITE_LOG"
if [[ $rc -ne 0 && $rc -ne 124 ]] && grep -qE 'ClusterAuthorizationException|Cluster authorization failed' "$WORK/out" "$WORK/err"; then
  pass acls.cli.add_denied_for_alice
  echo "INFO acls.cli.add_denied_for_alice: $(grep -hE 'ClusterAuthorizationException|Cluster authorization failed' "$WORK/out" "$WORK/err" | head -1 | cut -c1-250)"
else fail acls.cli.add_denied_for_alice "exit $rc (124: hung), $(errline "$WORK/out" "$WORK/err")"; fi

rows_t() {
  printf '%s\n' "TOPIC|$T|LITERAL|User:alice|*|READ|ALLOW" "TOPIC|$T|LITERAL|User:alice|*|WRITE|ALLOW" \
    "TOPIC|$T|LITERAL|User:alice|*|DESCRIBE|ALLOW"
}
rows_rest() {
  printf '%s\n' "GROUP|$G|LITERAL|User:alice|*|READ|ALLOW" \
    "TRANSACTIONAL_ID|$TXN|LITERAL|User:alice|*|WRITE|ALLOW" "TRANSACTIONAL_ID|$TXN|LITERAL|User:alice|*|DESCRIBE|ALLOW" \
    "TOPIC|$V|LITERAL|User:alice|*|DESCRIBE|ALLOW" "TOPIC|$W|LITERAL|User:alice|*|ALL|ALLOW" \
    "GROUP|$GP|PREFIXED|User:alice|*|READ|ALLOW"
}
rows_t | sort >"$WORK/want-t"
{ rows_t; rows_rest; echo "TOPIC|$W|LITERAL|User:alice|*|WRITE|DENY"; } | sort >"$WORK/want-all"
{ rows_rest; echo "TOPIC|$W|LITERAL|User:alice|*|WRITE|DENY"; } | sort >"$WORK/want-removed"
rows_rest | sort >"$WORK/want-final"

list_check acls.cli.list "$WORK/want-all"
cp "$WORK/out" "$WORK/list-before-restart.txt"
list_check acls.cli.list.topic_filter "$WORK/want-t" --topic "$T"
list_check acls.cli.list.principal "$WORK/want-all" --principal User:alice

# 3. What the ACLs allow and deny, with Java clients.
java_phase main 420

# 4. A restart on the same log dir keeps the ACLs.
if rn_broker_stop; then pass acls.restart.sigterm_exit_0
else fail acls.restart.sigterm_exit_0 "no exit with status 0 within ${RN_STOP_SECS:-30}s of SIGTERM (see $MAIN_LOG)"; fi
if acl_broker_start; then
  pass acls.restart.broker_start
  list_check acls.restart.list_same "$WORK/want-all"
  java_phase restart 180

  # 5. Removing ACLs.
  acl "$WORK/admin.properties" --remove --force --topic "$T" >"$WORK/out" 2>"$WORK/err"
  rc=$?
  cat "$WORK/out" "$WORK/err" >>"$RN_SUITE_LOG"
  if [[ $rc -eq 0 ]]; then list_check acls.cli.remove "$WORK/want-removed"
  else fail acls.cli.remove "--remove --force --topic $T: exit $rc (124: hung) $(errline "$WORK/out" "$WORK/err")"; fi
  acl "$WORK/admin.properties" --remove --force --deny-principal User:alice --operation Write --topic "$W" >"$WORK/out" 2>"$WORK/err"
  rc=$?
  cat "$WORK/out" "$WORK/err" >>"$RN_SUITE_LOG"
  if [[ $rc -eq 0 ]]; then list_check acls.cli.remove.deny "$WORK/want-final"
  else fail acls.cli.remove.deny "exit $rc (124: hung) $(errline "$WORK/out" "$WORK/err")"; fi
  java_phase removed 180
else
  fail acls.restart.broker_start "the broker did not listen on $SASL again: $(tail -3 "$MAIN_LOG" | tr '\n' ' ' | cut -c1-300)"
fi

# 6. The broker.
if [[ -n "${RN_PID:-}" ]] && kill -0 "$RN_PID" 2>/dev/null; then pass broker.alive
elif [[ -n "${RN_PID:-}" ]]; then fail broker.alive "the broker died (see $MAIN_LOG)"; wait "$RN_PID" 2>/dev/null; RN_PID=; fi
echo "INFO broker log: $(grep -c 'denied' "$MAIN_LOG") authorizer denials logged"
if [[ -n "${RN_PID:-}" ]]; then
  if rn_broker_stop; then pass broker.sigterm_exit_0
  else fail broker.sigterm_exit_0 "no exit with status 0 within ${RN_STOP_SECS:-30}s of SIGTERM (see $MAIN_LOG)"; fi
fi

# 7. Without authorizer.class.name the ACL APIs answer SECURITY_DISABLED.
if rn_broker_start "$WORK/plain" 2>>"$RN_SUITE_LOG"; then
  for action in list add; do
    args=(--list)
    [[ $action == add ]] && args=(--add --allow-principal User:alice --operation Read --topic "$T")
    KT_BOUND=45 kt org.apache.kafka.tools.AclCommand --bootstrap-server "$RN_BOOTSTRAP" "${args[@]}" >"$WORK/out" 2>"$WORK/err"
    rc=$?
    cat "$WORK/out" "$WORK/err" >>"$RN_SUITE_LOG"
    if [[ $rc -ne 0 && $rc -ne 124 ]] && grep -qE 'SecurityDisabledException|No Authorizer is configured' "$WORK/out" "$WORK/err"; then
      pass "acls.no_authorizer.$action"
      echo "INFO acls.no_authorizer.$action: $(grep -hE 'SecurityDisabledException|No Authorizer is configured' "$WORK/out" "$WORK/err" | head -1 | cut -c1-250)"
    else fail "acls.no_authorizer.$action" "exit $rc (124: hung), $(errline "$WORK/out" "$WORK/err") $(head -c 200 "$WORK/out" | tr '\n' ' ')"; fi
  done
  rn_broker_stop || fail acls.no_authorizer.sigterm_exit_0 "the plain broker did not exit with status 0 (see $RN_BROKER_LOG)"
else
  fail acls.no_authorizer.broker_start "the plain broker did not start: $(tail -3 "$WORK/plain/broker.log" | tr '\n' ' ' | cut -c1-300)"
fi

if grep -q 'panicked' "$MAIN_LOG" "$WORK/plain/broker.log" 2>/dev/null; then
  fail broker.no_panic "$(grep -h -m1 'panicked' "$MAIN_LOG" "$WORK/plain/broker.log" 2>/dev/null | head -1 | cut -c1-300)"
else pass broker.no_panic; fi
echo "INFO acls.sh took ${SECONDS}s"
[[ $failures -eq 0 ]]
