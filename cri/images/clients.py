"""HTTP clients to registries, pooled per TLS setting and shared by all pulls."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from pycri.cri.images.hosts import Endpoint


class ClientPool:
    """One httpx client per TLS setting, shared by all pulls (connection reuse)."""

    def __init__(
        self,
        progress_timeout: float,
        max_connections: int = 32,
        transport: httpx.MockTransport | None = None,
    ) -> None:
        self.progress_timeout = progress_timeout
        self.max_connections = max_connections
        self.transport = transport  # tests pass an httpx.MockTransport
        self._clients: dict[tuple[Any, ...], httpx.AsyncClient] = {}
        self._sync_clients: dict[tuple[Any, ...], httpx.Client] = {}
        self._lock = threading.Lock()

    def _timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.progress_timeout, connect=min(self.progress_timeout, 30))

    def get(self, endpoint: Endpoint) -> httpx.AsyncClient:
        key = (endpoint.plain_http, endpoint.skip_verify, endpoint.ca_files, endpoint.client_certs)
        client = self._clients.get(key)
        if client is None:
            client = httpx.AsyncClient(
                verify=endpoint.tls(),
                timeout=self._timeout(),
                limits=httpx.Limits(max_connections=self.max_connections),
                follow_redirects=True,
                transport=self.transport,
            )
            self._clients[key] = client
        return client

    def get_sync(self, endpoint: Endpoint) -> httpx.Client:
        """A blocking client for blob bodies, used from worker threads.

        Blob bytes are read, hashed, written and unpacked in a worker thread: moving the
        socket reads there too keeps the event loop (and its epoll churn per 64 KiB read)
        out of the hot path.
        """
        key = (endpoint.plain_http, endpoint.skip_verify, endpoint.ca_files, endpoint.client_certs)
        with self._lock:
            client = self._sync_clients.get(key)
            if client is None:
                client = httpx.Client(
                    verify=endpoint.tls(),
                    timeout=self._timeout(),
                    limits=httpx.Limits(max_connections=self.max_connections),
                    follow_redirects=True,
                    transport=self.transport,
                )
                self._sync_clients[key] = client
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
        with self._lock:
            sync_clients, self._sync_clients = list(self._sync_clients.values()), {}
        for sync_client in sync_clients:
            sync_client.close()
