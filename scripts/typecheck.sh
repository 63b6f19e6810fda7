#!/usr/bin/env bash
# mypy --strict over the package. The editable install maps api/ cri/ runtime/ cni/ under
# `pycri` with an import hook mypy cannot follow, so check a symlinked `pycri/` tree instead.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tree="$repo/.cache/typecheck"
rm -rf "$tree" && mkdir -p "$tree/pycri"
touch "$tree/pycri/__init__.py"
for part in api cri runtime cni; do ln -s "$repo/$part" "$tree/pycri/$part"; done
cd "$tree"
exec "$repo/.venv/bin/mypy" --config-file "$repo/pyproject.toml" -p pycri "$@"
