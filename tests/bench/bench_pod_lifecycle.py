"""Pod sandbox lifecycle latency, pycri vs Debian's containerd (issue 6's benchmark).

Each cycle is RunPodSandbox → StopPodSandbox → RemovePodSandbox on the same CNI conflist
(bridge + host-local + portmap, a bridge and subnet unique to the run); sequential, then
`--in-flight` cycles at a time. containerd runs a static pause image from a local registry,
pulled before timing. The runtimes run one after the other, never side by side.

    sudo .venv/bin/python -m tests.bench.bench_pod_lifecycle [--quick] [--pods 50]
        [--in-flight 20] [--host-ports] [--runtimes pycri,containerd]
"""

from __future__ import annotations

import grpc

from tests.bench.bench_common import (
    Samples,
    base_parser,
    chosen_runtimes,
    machine_line,
    print_table,
    run_in_flight,
    timed,
)
from tests.bench.containerd_env import BenchWorld, RuntimeEnv

OPS = ("run", "stop", "remove", "total")
WARMUP = 2


def cycle(world: BenchWorld, runtime: RuntimeEnv, samples: Samples, index: int,
          host_ports: bool) -> None:
    client = runtime.client
    config = world.pod_config(f"lc{index}", host_port=40000 + index if host_ports else 0)
    pod_id = ""
    try:
        pod_id = timed(samples, "run", lambda: client.run_pod_sandbox(config))
        timed(samples, "stop", lambda: client.stop_pod_sandbox(pod_id))
        timed(samples, "remove", lambda: client.remove_pod_sandbox(pod_id))
        samples.add("total", sum(samples.ops[op][-1] for op in ("run", "stop", "remove")))
    except grpc.RpcError as exc:
        samples.fail(f"pod lc{index} {pod_id[:12]}", exc)


def measure(world: BenchWorld, runtime: RuntimeEnv, pods: int, in_flight: int,
            host_ports: bool) -> dict[str, Samples]:
    warm = Samples()
    for i in range(WARMUP):
        cycle(world, runtime, warm, 10_000 + i, host_ports)
    sequential = Samples(count=pods)
    for i in range(pods):
        cycle(world, runtime, sequential, i, host_ports)
    parallel = Samples(count=pods)
    parallel.wall_s = run_in_flight(
        lambda i: cycle(world, runtime, parallel, i, host_ports),
        range(pods, 2 * pods), in_flight)
    sequential.failures = warm.failures + sequential.failures
    return {"sequential": sequential, f"{in_flight} in flight": parallel}


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--pods", type=int, default=50, help="cycles per mode (default 50)")
    parser.add_argument("--in-flight", type=int, default=20, help="concurrent cycles")
    parser.add_argument("--host-ports", action="store_true",
                        help="give every pod a hostPort mapping (portmap adds DNAT rules)")
    args = parser.parse_args()
    pods, in_flight = (8, 4) if args.quick else (args.pods, args.in_flight)
    results: dict[str, dict[str, Samples]] = {}
    with BenchWorld() as world:
        print(f"pause image: {world.pause_kind}; network {world.network.name} "
              f"bridge {world.network.bridge} {world.network.subnet}")
        for name in chosen_runtimes(args.runtimes):
            start = world.pycri if name == "pycri" else world.containerd
            with start() as runtime:
                by_mode = measure(world, runtime, pods, in_flight, args.host_ports)
            for mode, samples in by_mode.items():
                results.setdefault(mode, {})[name] = samples
        print_table(f"RunPodSandbox + StopPodSandbox + RemovePodSandbox, {pods} pods per mode"
                    f"{', hostPort per pod' if args.host_ports else ''} ({machine_line()})",
                    results, OPS)


if __name__ == "__main__":
    main()
