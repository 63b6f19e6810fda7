"""Pod + container start latency, pycri vs Debian's containerd (issue 7's benchmark).

Each sample is RunPodSandbox → CreateContainer → StartContainer of a busybox `sleep`
container, over `--pods` pods sequentially and then `--in-flight` at a time. Both runtimes
pull the same busybox image (and containerd its pause image) from a local registry before
timing, and use the same CNI conflist and cgroup parent. Pods are removed between modes,
untimed. The runtimes run one after the other, never side by side.

    sudo .venv/bin/python -m tests.bench.bench_container_start [--quick] [--pods 50]
        [--in-flight 10] [--runtimes pycri,containerd]
"""

from __future__ import annotations

import grpc

from pycri.api.cri import pb
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

OPS = ("run pod", "create", "start", "total")
WARMUP = 2


def start_one(world: BenchWorld, runtime: RuntimeEnv, samples: Samples, index: int) -> None:
    client = runtime.client
    pod = world.pod_config(f"cs{index}")
    container = world.sleep_container()
    step = "run pod"
    try:
        pod_id = timed(samples, "run pod", lambda: client.run_pod_sandbox(pod))
        step = "create"
        cid = timed(samples, "create", lambda: client.create_container(pod_id, container, pod))
        step = "start"
        timed(samples, "start", lambda: client.start_container(cid))
        samples.add("total", sum(samples.ops[op][-1] for op in ("run pod", "create", "start")))
    except grpc.RpcError as exc:
        samples.fail(f"pod cs{index} at {step}", exc)


def check_running(runtime: RuntimeEnv, samples: Samples) -> None:
    """A started container must still be running when the mode ends."""
    states = [c.state for c in runtime.client.list_containers()]
    running = sum(1 for s in states if s == pb.ContainerState.CONTAINER_RUNNING)
    if running != len(states):
        samples.failures.append(f"{len(states) - running} of {len(states)} containers "
                                "not running at the end")


def measure(world: BenchWorld, runtime: RuntimeEnv, pods: int,
            in_flight: int) -> dict[str, Samples]:
    runtime.client.pull_image(world.busybox_ref)
    warm = Samples()
    for i in range(WARMUP):
        start_one(world, runtime, warm, 10_000 + i)
    runtime.remove_all_pods()
    sequential = Samples(count=pods)
    for i in range(pods):
        start_one(world, runtime, sequential, i)
    check_running(runtime, sequential)
    runtime.remove_all_pods()
    parallel = Samples(count=pods)
    parallel.wall_s = run_in_flight(lambda i: start_one(world, runtime, parallel, i),
                                    range(pods, 2 * pods), in_flight)
    check_running(runtime, parallel)
    runtime.remove_all_pods()
    sequential.failures = warm.failures + sequential.failures
    return {"sequential": sequential, f"{in_flight} in flight": parallel}


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--pods", type=int, default=50, help="pods per mode (default 50)")
    parser.add_argument("--in-flight", type=int, default=10, help="concurrent pod starts")
    args = parser.parse_args()
    pods, in_flight = (6, 3) if args.quick else (args.pods, args.in_flight)
    results: dict[str, dict[str, Samples]] = {}
    with BenchWorld() as world:
        print(f"pause image: {world.pause_kind}; image {world.busybox_ref}; "
              f"network {world.network.name} {world.network.subnet}")
        for name in chosen_runtimes(args.runtimes):
            start = world.pycri if name == "pycri" else world.containerd
            with start() as runtime:
                by_mode = measure(world, runtime, pods, in_flight)
            for mode, samples in by_mode.items():
                results.setdefault(mode, {})[name] = samples
        print_table(f"RunPodSandbox → CreateContainer → StartContainer (busybox sleep), "
                    f"{pods} pods per mode ({machine_line()})", results, OPS)


if __name__ == "__main__":
    main()
