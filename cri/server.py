"""The pycri daemon: builds the services, serves them on the CRI socket, shuts down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Any

import grpc

from pycri.api.cri import pb
from pycri.cri import exits, rpc
from pycri.cri import socket as crisocket
from pycri.cri.config import Config
from pycri.cri.container_stream import StreamingService
from pycri.cri.context import RuntimeContext
from pycri.cri.pods import PodShims
from pycri.cri.runtime_info import RuntimeInfoService
from pycri.cri.runtime_service import PodAndContainerService
from pycri.cri.state import RuntimeState
from pycri.cri.stats_service import StatsService
from pycri.cri.store import Store

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 16 * 1024 * 1024 + 1024 * 1024  # ExecSync output caps plus headroom


class Daemon:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.store: Store | None = None
        self.rt: RuntimeContext | None = None
        self._server: grpc.aio.Server | None = None
        self._stopping = asyncio.Event()
        self._background: list[asyncio.Task[None]] = []
        self._image_service: Any = None
        self._streaming: Any = None
        self._metrics: Any = None  # cri.metrics.DaemonMetrics when metrics.address is set

    async def _build(self, store: Store) -> RuntimeContext:
        from pycri.cni.defaults import install_default_config
        from pycri.cni.manager import CniManager
        from pycri.cri.images.config import ImageConfig
        from pycri.cri.images.service import ImageService
        from pycri.runtime.task.manager import TaskManager

        config = self.config
        state = RuntimeState(store)
        await asyncio.to_thread(state.load)
        cni = config.cni
        network = CniManager({
            "conf_dir": cni.conf_dir, "bin_dirs": cni.bin_dirs,
            "cache_dir": cni.cache_dir or str(Path(config.root) / "cni-cache"),
            "plugin_timeout": cni.plugin_timeout,
        })
        if config.metrics.address:
            from pycri.cri.metrics import DaemonMetrics  # prometheus_client only when on

            self._metrics = DaemonMetrics()
            network = self._metrics.wrap_network(network)
        if cni.install_default and await asyncio.to_thread(install_default_config, cni.conf_dir):
            log.info("installed the default CNI network conf_dir=%s", cni.conf_dir)
        self._image_service = ImageService(
            store, ImageConfig.from_daemon(config))
        await self._image_service.start()
        images = self._image_service.manager
        tasks = TaskManager(run_root=config.state)
        await tasks.prestart()
        rt = RuntimeContext(config=config, state=state, pods=PodShims(tasks, config.log_level),
                            network=network, images=images)
        if self._metrics is not None:
            self._metrics.attach(rt)
        await exits.reconnect(rt)
        self._background.append(asyncio.create_task(exits.watch(rt), name="shim-events"))
        self._streaming = await self._start_streaming(rt)
        return rt

    async def _start_streaming(self, rt: RuntimeContext) -> Any:
        from pycri.cri.streaming import StreamingConfig, StreamingServer
        from pycri.cri.streaming_backend import ShimStreamingBackend

        settings = self.config.streaming
        tls = None
        if settings.tls_cert:
            import ssl

            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(settings.tls_cert, settings.tls_key or None)
        server = StreamingServer(ShimStreamingBackend(rt), StreamingConfig(
            host=settings.address, port=settings.port, ssl=tls,
            idle_timeout=settings.idle_timeout))
        await server.start()
        log.info("streaming server listening url=%s", server.base_url)
        return server

    def _services(self, rt: RuntimeContext) -> tuple[list[object], list[object]]:
        """Handler objects for RuntimeService and ImageService."""
        stats = StatsService(rt)
        if self._metrics is not None:
            self._metrics.runtime.broker = stats.broker
        runtime: list[object] = [
            RuntimeInfoService(self.config, rt.network.network_ready),
            PodAndContainerService(rt),
            stats,
            StreamingService(rt, self._streaming),
        ]
        image: list[object] = [self._image_service]
        return runtime, image

    async def start(self) -> None:
        crisocket.claim(self.config.listen)
        Path(self.config.root).mkdir(parents=True, exist_ok=True)
        Path(self.config.state).mkdir(parents=True, exist_ok=True)
        self.store = await asyncio.to_thread(Store, self.config.db_path)
        self.rt = await self._build(self.store)
        runtime, image = self._services(self.rt)
        services = pb.DESCRIPTOR.services_by_name
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ]
        )
        server.add_generic_rpc_handlers((
            rpc.generic_handler(services["RuntimeService"], runtime, pb),
            rpc.generic_handler(services["ImageService"], image, pb),
        ))
        server.add_insecure_port(f"unix:{self.config.listen}")
        await server.start()
        crisocket.restrict(self.config.listen)
        self._server = server
        if self._metrics is not None:
            self._metrics.serve(self.config.metrics.address)
        log.info("serving listen=%s root=%s state=%s", self.config.listen, self.config.root,
                 self.config.state)

    async def stop(self) -> None:
        if self._server is not None:
            log.info("shutting down grace_s=%.1f", self.config.shutdown_timeout)
            await self._server.stop(self.config.shutdown_timeout)
            self._server = None
        if self._streaming is not None:
            await self._streaming.stop()
        if self._metrics is not None:
            self._metrics.close()
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.rt is not None:
            await self.rt.pods.tasks.close()
            await self.rt.images.close()
        with contextlib.suppress(FileNotFoundError):
            Path(self.config.listen).unlink()
        if self.store is not None:
            self.store.close()
        log.info("stopped")

    def request_stop(self) -> None:
        self._stopping.set()

    async def serve_forever(self) -> None:
        await self.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        try:
            await self._stopping.wait()
        finally:
            await self.stop()
