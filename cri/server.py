"""The pycri daemon: builds the services, serves them on the CRI socket, shuts down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

import grpc

from pycri.api.cri import pb
from pycri.cri import rpc
from pycri.cri import socket as crisocket
from pycri.cri.config import Config
from pycri.cri.runtime_info import RuntimeInfoService
from pycri.cri.store import Store

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 16 * 1024 * 1024 + 1024 * 1024  # ExecSync output caps plus headroom


class Daemon:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.store: Store | None = None
        self._server: grpc.aio.Server | None = None
        self._stopping = asyncio.Event()

    def _network_probe(self) -> tuple[bool, str]:
        return False, "no CNI network is configured yet"

    def _services(self) -> tuple[list[object], list[object]]:
        """Handler objects for RuntimeService and ImageService."""
        runtime: list[object] = [RuntimeInfoService(self.config, self._network_probe)]
        image: list[object] = []
        return runtime, image

    async def start(self) -> None:
        crisocket.claim(self.config.listen)
        Path(self.config.root).mkdir(parents=True, exist_ok=True)
        Path(self.config.state).mkdir(parents=True, exist_ok=True)
        self.store = await asyncio.to_thread(Store, self.config.db_path)
        runtime, image = self._services()
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
        log.info("serving listen=%s root=%s state=%s", self.config.listen, self.config.root,
                 self.config.state)

    async def stop(self) -> None:
        if self._server is not None:
            log.info("shutting down grace_s=%.1f", self.config.shutdown_timeout)
            await self._server.stop(self.config.shutdown_timeout)
            self._server = None
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
