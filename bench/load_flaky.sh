#!/usr/bin/env bash
# The two tests that failed on a busy box (issue 18), N times in a row beside 8 busy processes,
# with SIGINT ignored as a shell's background job (or a CI runner) passes it on.
#   bash bench/load_flaky.sh [N]   (from the repo root, after make test has set up .venv)
set -uo pipefail
n=${1:-10}
pids=()
for _ in $(seq 8); do python3 -c "while True: pass" & pids+=($!); done
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
passed=0
for i in $(seq "$n"); do
  if bash -c "trap '' INT; .venv/bin/python -m pytest -q -p no:cacheprovider \
      'tests/test_inflight.py::test_a_failure_rate_stop_cancels_the_jobs_still_in_flight' \
      'tests/test_sweeper.py::test_ctrl_c_leaves_no_running_trial' \
      'tests/test_sweeper.py::test_a_killed_job_fails_only_its_own_trial_and_the_sweep_goes_on'" > "/tmp/load_flaky.$i.log" 2>&1; then
    passed=$((passed + 1))
  fi
  echo "run $i: $(tail -1 "/tmp/load_flaky.$i.log") (load $(cut -d' ' -f1 /proc/loadavg))"
done
echo "$passed of $n runs passed"
[ "$passed" -eq "$n" ]
