"""ListContainerStats latency with many running containers, pycri vs containerd (issue 9).

Starts `--pods` pods with `--per-pod` busybox `sleep` containers each (default 100 x 1),
then times `--calls` ListContainerStats calls (and as many ListPodSandboxStats) after a
few untimed ones. It also checks what the answers hold: one entry per container, CPU and
memory working set filled. The runtimes run one after the other, never side by side.

    sudo .venv/bin/python -m tests.bench.bench_stats [--quick] [--pods 100] [--per-pod 1]
        [--calls 20] [--runtimes pycri,containerd]
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

OPS = ("ListContainer", "ListPodSandbox")
WARMUP = 3
SETUP_IN_FLIGHT = 4


def start_pod(world: BenchWorld, runtime: RuntimeEnv, per_pod: int, index: int,
              setup: Samples) -> None:
    client = runtime.client
    pod = world.pod_config(f"st{index}")
    try:
        pod_id = client.run_pod_sandbox(pod)
        for n in range(per_pod):
            cid = client.create_container(pod_id, world.sleep_container(f"sleep{n}"), pod)
            client.start_container(cid)
    except grpc.RpcError as exc:
        setup.fail(f"setup of pod st{index}", exc)


def describe(stats: list[pb.ContainerStats]) -> str:
    cpu = sum(1 for s in stats if s.HasField("cpu") and s.cpu.usage_core_nano_seconds.value)
    mem = sum(1 for s in stats if s.HasField("memory") and s.memory.working_set_bytes.value)
    disk = sum(1 for s in stats if s.HasField("writable_layer"))
    return f"{len(stats)} entries, cpu in {cpu}, memory working set in {mem}, fs in {disk}"


def measure(world: BenchWorld, runtime: RuntimeEnv, pods: int, per_pod: int,
            calls: int) -> tuple[Samples, str]:
    runtime.client.pull_image(world.busybox_ref)
    setup = Samples()
    run_in_flight(lambda i: start_pod(world, runtime, per_pod, i, setup), range(pods),
                  SETUP_IN_FLIGHT)
    running = [c for c in runtime.client.list_containers()
               if c.state == pb.ContainerState.CONTAINER_RUNNING]
    samples = Samples(failures=setup.failures)
    note = f"{len(running)} running containers; "
    try:
        for _ in range(WARMUP):
            stats = runtime.client.list_container_stats()
        note += describe(stats)
        for _ in range(calls):
            timed(samples, "ListContainer", runtime.client.list_container_stats)
    except grpc.RpcError as exc:
        samples.fail("ListContainerStats", exc)
    request = pb.ListPodSandboxStatsRequest()
    try:
        for _ in range(WARMUP):
            runtime.client.runtime.ListPodSandboxStats(request, timeout=120)
        for _ in range(calls):
            timed(samples, "ListPodSandbox",
                  lambda: runtime.client.runtime.ListPodSandboxStats(request, timeout=120))
    except grpc.RpcError as exc:
        samples.fail("ListPodSandboxStats", exc)
    return samples, note


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--pods", type=int, default=100, help="pods (default 100)")
    parser.add_argument("--per-pod", type=int, default=1, help="containers per pod")
    parser.add_argument("--calls", type=int, default=20, help="timed calls (default 20)")
    args = parser.parse_args()
    pods, calls = (10, 10) if args.quick else (args.pods, args.calls)
    results: dict[str, dict[str, Samples]] = {}
    notes = []
    with BenchWorld() as world:
        for name in chosen_runtimes(args.runtimes):
            start = world.pycri if name == "pycri" else world.containerd
            with start() as runtime:
                samples, note = measure(world, runtime, pods, args.per_pod, calls)
            results.setdefault("*Stats", {})[name] = samples
            notes.append(f"{name}: {note}")
        print_table(f"List*Stats latency, {pods * args.per_pod} containers in {pods} pods, "
                    f"{calls} calls ({machine_line()})", results, OPS)
        print("\n".join(notes))


if __name__ == "__main__":
    main()
