#!/usr/bin/env bash
# Builds every coverage-guided fuzz target of fuzz/ (libFuzzer through the
# libfuzzer-sys crate) on the stable toolchain and runs each for a bounded
# time. It passes rustc the flags `cargo fuzz build --sanitizer none` passes
# (all stable: no nightly, no RUSTC_BOOTSTRAP), so cargo-fuzz need not be
# installed; where it is, the script builds through it (`cargo fuzz build -O
# -a -s none`), and `cd fuzz && cargo fuzz run -s none TARGET` works too.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET [TARGET...]]    (default 10 s, all)
#
# Environment: FUZZ_RUNS=N runs each target N inputs instead of for a time;
# FUZZ_JOBS=N runs N targets at once (default 1). Corpora grow in
# fuzz/corpus/TARGET (not committed), crashes are written to
# fuzz/artifacts/TARGET/ and make the script fail: keep each crasher in
# fuzz/regressions/TARGET-WHAT (replayed first on every run) and as a test
# of the reader, then fix the reader.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-10}
shift || true
all=(checkpoint esp_blob idx csv jsonl yaml episode hdf5 hdf5_structure)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

triple=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares \
 -Cllvm-args=-sanitizer-coverage-stack-depth \
 -Cllvm-args=-simplifycfg-branch-fold-threshold=0 \
 --cfg fuzzing -Cdebug-assertions -Ccodegen-units=16"
echo "== fuzz: building the targets ($triple, rustc $(rustc -V | cut -d' ' -f2))"
if cargo fuzz --version >/dev/null 2>&1; then
  # The same build through cargo-fuzz (its flags are the ones above).
  unset RUSTFLAGS
  (cd fuzz && cargo fuzz build -O -a -s none --codegen-units 16 --features hdf5)
else
  # --target keeps the instrumentation out of build scripts and proc macros.
  cargo build --manifest-path fuzz/Cargo.toml --target "$triple" --release \
    --features hdf5 --bins
fi
bin=fuzz/target/$triple/release

run_one() {
  local t=$1
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  local limit=(-max_total_time="$secs")
  [ -z "${FUZZ_RUNS:-}" ] || limit=(-runs="$FUZZ_RUNS")
  # Bounded memory and time per input: a reader that allocates without
  # bound or hangs is a crash (out-of-memory, timeout) like a panic.
  local rc=0
  # The crashers found so far (fixed; kept as regression inputs) first.
  local found=(fuzz/regressions/"$t"-*)
  if [ -e "${found[0]}" ]; then
    "$bin/$t" "${found[@]}" >"fuzz/artifacts/$t.regressions.log" 2>&1 || {
      echo "fuzz $t: a kept crasher fails again; see fuzz/artifacts/$t.regressions.log"
      return 1
    }
  fi
  "$bin/$t" "fuzz/corpus/$t" "${limit[@]}" -rss_limit_mb=2048 \
    -timeout=10 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="fuzz/artifacts/$t/" >"fuzz/artifacts/$t.log" 2>&1 || rc=$?
  local runs
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "fuzz/artifacts/$t.log" | tail -1)
  if [ $rc -eq 0 ]; then
    echo "fuzz $t: ${runs:-?} executions, no crash"
  else
    echo "fuzz $t: CRASH (exit $rc) after ${runs:-?} executions; see fuzz/artifacts/$t.log:"
    grep -E "panicked|ERROR|SUMMARY|Test unit written" "fuzz/artifacts/$t.log" | head -5
  fi
  return $rc
}

failed=0
jobs=${FUZZ_JOBS:-1}
pids=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
[ $failed -eq 0 ] && echo "fuzz: all ${#targets[@]} targets ran without a crash"
exit $failed
