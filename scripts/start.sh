#!/usr/bin/env bash
# Installs pycri (scripts/install.sh) and starts the daemon with its built-in defaults in the
# background; returns once the CRI socket answers. Logs go to /var/log/pycri.log.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
"$repo/scripts/install.sh"
socket=/run/pycri/pycri.sock
if [ -S "$socket" ] && "$repo/.venv/bin/python" -m pycri.cri.client_probe "$socket" 2>/dev/null; then
  echo "pycri is already serving on $socket"
  exit 0
fi
setsid "$repo/.venv/bin/pycri" </dev/null >>/var/log/pycri.log 2>&1 &
for _ in $(seq 100); do
  if "$repo/.venv/bin/python" -m pycri.cri.client_probe "$socket" 2>/dev/null; then
    echo "pycri is serving on unix://$socket (log: /var/log/pycri.log)"
    exit 0
  fi
  sleep 0.1
done
echo "pycri did not come up; see /var/log/pycri.log" >&2
tail -20 /var/log/pycri.log >&2
exit 1
