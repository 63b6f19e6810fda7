"""Suite-wide setup that must happen before any test module imports grpc."""

from __future__ import annotations

import os

# The suite forks container inits and subprocesses from a process that also runs gRPC
# clients and servers; gRPC's fork handlers can then abort the child (a known race in
# its poller). Every fork here either execs or never touches gRPC, so they are not needed.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
