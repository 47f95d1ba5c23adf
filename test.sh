#!/usr/bin/env bash
# Runs every test of the project from a fresh machine, installing what the tests need.
# Usage: ./test.sh            the full suite (what CI runs)
#        ./test.sh --quick    Rust checks and tests only
#        ./test.sh --long     the full suite with the long fault run (200 cycles; not in CI)
set -euo pipefail
cd "$(dirname "$0")"

quick=false
compat_args=()
for arg in "$@"; do
  case "$arg" in
    --quick) quick=true ;;
    --long) compat_args+=(--long) ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

# CI builds once from scratch: incremental caches would only double the disk used.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi

started=$(date +%s)
step() { printf '\n==> %s (%ss)\n' "$1" "$(( $(date +%s) - started ))"; }

step "toolchain"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo --version

# The compat suites' tooling (Kafka's jars, Python packages, Go modules, Debian packages) is
# mostly downloads: fetched beside the Rust build instead of after it.
install_pid=
if [ "$quick" = false ]; then
  mkdir -p target
  compat/run.sh --install-only >target/compat-install.txt 2>&1 &
  install_pid=$!
fi

step "format"
cargo fmt --all -- --check

step "generated codec matches the specs"
if [ -d ../shared/kafka-message-specs-4.4 ] && [ -d ../shared/kafka-message-specs ]; then
  cargo xtask codegen --check
else
  echo "skipped: ../shared/kafka-message-specs-4.4 or ../shared/kafka-message-specs is absent"
fi

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "unit and integration tests"
cargo test --workspace 2>&1 | tee target/test-output.txt
passed=$(grep -E '^test result:' target/test-output.txt | awk '{s+=$4} END {print s+0}')
failed=$(grep -E '^test result:' target/test-output.txt | awk '{s+=$6} END {print s+0}')

compat_status=0
if [ "$quick" = false ]; then
  step "real clients against the runnel binary (compat/run.sh)"
  wait "$install_pid" || true
  cat target/compat-install.txt
  compat/run.sh "${compat_args[@]}" 2>&1 | tee target/compat-output.txt || compat_status=$?
  compat_line=$(grep -E '^compat: [0-9]+ passed, [0-9]+ failed' target/compat-output.txt | tail -1 || true)
  if [ -n "$compat_line" ]; then
    passed=$(( passed + $(echo "$compat_line" | awk '{print $2}') ))
    failed=$(( failed + $(echo "$compat_line" | awk '{print $4}') ))
  else
    failed=$(( failed + 1 ))
    [ "$compat_status" -ne 0 ] || compat_status=1
  fi
fi

step "done"
echo "tests: ${passed} passed, ${failed} failed"
exit "$compat_status"
