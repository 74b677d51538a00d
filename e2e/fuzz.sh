#!/usr/bin/env bash
# fuzz.sh DURATION - run every Fuzz target in the module for DURATION each.
# go test -fuzz accepts one target per run, so this finds and loops them.
# Minimizing new inputs is bounded (-fuzzminimizetime 1s): on a loaded
# 2-core machine an unbounded minimization near the deadline makes the
# fuzzing engine itself end with "context deadline exceeded". Such a run
# (no failing input, no panic) is tried once more and, if it happens again,
# reported as a warning: the engine timed out stopping, the code did not
# fail. A real crash (a failing input) always fails the run.
set -euo pipefail
t=${1:-5s}
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
n=0
for dir in $(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do
  for f in $(grep -h '^func Fuzz' "$dir"/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do
    for try in 1 2; do
      if go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" -fuzzminimizetime 1s -parallel 1 "$dir" > "$log" 2>&1; then
        n=$((n + 1)); echo "fuzz ok   $dir $f ($t)"; break
      fi
      if grep -q "context deadline exceeded" "$log" && ! grep -q "Failing input\|panic:" "$log"; then
        if [ "$try" = 1 ]; then echo "fuzz retry $dir $f (fuzzing engine timed out stopping)"; continue; fi
        n=$((n + 1)); echo "fuzz WARN $dir $f: the fuzzing engine timed out stopping twice; no failing input"; break
      fi
      cat "$log"; echo "fuzz FAILED $dir $f"; exit 1
    done
  done
done
echo "fuzz: $n targets passed, 0 failed"
