#!/usr/bin/env bash
# Installs what pycri needs on a Debian/Ubuntu machine, as root: Debian packages, a virtualenv
# in the repository (.venv) with the project in it, and the commands in /usr/local/bin.
# `--test` adds what the test suite needs (registry, reference runtimes, busybox).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

runtime_packages=(python3 python3-venv iptables iproute2 procps containernetworking-plugins libseccomp2 ca-certificates)
test_packages=(busybox-static docker-registry runc crun containerd skopeo uidmap libseccomp-dev)
packages=("${runtime_packages[@]}")
[ "${1:-}" = "--test" ] && packages+=("${test_packages[@]}")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's containerd package starts its own daemon; the tests start theirs on private sockets.
if [ "${1:-}" = "--test" ] && command -v systemctl >/dev/null && systemctl is-active -q containerd 2>/dev/null; then
  systemctl disable --now containerd >/dev/null 2>&1 || true
fi

# The system interpreter, never a pyenv shim: every start of a shim costs ~65 ms.
python=/usr/bin/python3
[ -d .venv ] || "$python" -m venv .venv
extras=""
[ "${1:-}" = "--test" ] && extras="[dev]"
.venv/bin/pip install -q --disable-pip-version-check -e ".${extras}" 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -c "import pycri.cri.main" >/dev/null

for cmd in pycri pycri-shim; do
  [ -x ".venv/bin/$cmd" ] && ln -sf "$repo/.venv/bin/$cmd" "/usr/local/bin/$cmd"
done
# pyrunc runs several times per container when containerd's shim drives it: its launcher
# skips site and the editable-install finder (~12 ms a call).
rm -f /usr/local/bin/pyrunc
.venv/bin/python -m pycri.runtime.oci.launcher /usr/local/bin/pyrunc
echo "pycri installed: $repo/.venv"
