#!/usr/bin/env bash
# Installs everything the test suite needs and runs the whole suite (unit, integration as root,
# end to end). Extra arguments go to pytest.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
"$repo/scripts/install.sh" --test
cd "$repo"
export GRPC_ENABLE_FORK_SUPPORT=0
set +e
.venv/bin/pytest -q -p no:cacheprovider "$@"
status=$?
set -e
if [ $status -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit $status
