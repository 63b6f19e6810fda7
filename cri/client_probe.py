"""Exit 0 when a CRI server answers Version on the given socket (used by scripts/start.sh)."""

from __future__ import annotations

import sys

import grpc

from pycri.api.cri import pb, pb_grpc


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else "/run/pycri/pycri.sock"
    with grpc.insecure_channel(f"unix:{path}") as channel:
        try:
            reply = pb_grpc.RuntimeServiceStub(channel).Version(pb.VersionRequest(), timeout=2)
        except grpc.RpcError:
            return 1
    print(f"{reply.runtime_name} {reply.runtime_version} {reply.runtime_api_version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
