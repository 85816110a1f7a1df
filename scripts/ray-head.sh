#!/usr/bin/env bash
# Starts or stops a single-node Ray head on 127.0.0.1 from the project's .venv, for the tests and
# CI (the `ray` executor talks to its Jobs API). Ports: RAY_HEAD_PORT (GCS, default 6390) and
# RAY_DASHBOARD_PORT (Jobs API, default 8275). Prints the Jobs API address on start.
set -euo pipefail
cd "$(dirname "$0")/.."
ray=.venv/bin/ray
[ -x "$ray" ] || { echo "ray-head: $ray not found; run npm run setup" >&2; exit 1; }
port=${RAY_HEAD_PORT:-6390}
dashboard=${RAY_DASHBOARD_PORT:-8275}
case "${1:-}" in
  start)
    if curl -sf "http://127.0.0.1:$dashboard/api/version" >/dev/null 2>&1; then
      echo "http://127.0.0.1:$dashboard"; exit 0
    fi
    RAY_USAGE_STATS_ENABLED=0 "$ray" start --head --num-cpus "${RAY_NUM_CPUS:-2}" --node-ip-address 127.0.0.1 \
      --port "$port" --dashboard-host 127.0.0.1 --dashboard-port "$dashboard" --disable-usage-stats >/tmp/synthmix-ray-start.log 2>&1 \
      || { cat /tmp/synthmix-ray-start.log >&2; echo "ray-head: ray start failed" >&2; exit 1; }
    for _ in $(seq 1 60); do
      curl -sf "http://127.0.0.1:$dashboard/api/version" >/dev/null 2>&1 && { echo "http://127.0.0.1:$dashboard"; exit 0; }
      sleep 0.5
    done
    echo "ray-head: the Jobs API on port $dashboard did not answer" >&2; exit 1 ;;
  stop)
    "$ray" stop --force >/dev/null 2>&1 || true ;;
  *)
    echo "usage: scripts/ray-head.sh start|stop" >&2; exit 2 ;;
esac
