"""A client of the OCI distribution API for one repository: manifests and blobs.

Endpoints (mirrors, then the upstream) are tried in order; an endpoint that cannot be
reached, answers 5xx or lacks the object hands over to the next. Blob bodies stream into a
content-store ingest file; a broken transfer resumes with an HTTP Range request; a read that
sees no byte for `progress_timeout` seconds aborts the fetch (the no-progress deadline).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from pycri.cri.errors import (
    CriError,
    DeadlineExceeded,
    FailedPrecondition,
    NotFound,
    Unauthenticated,
    Unavailable,
)
from pycri.cri.images import media
from pycri.cri.images.auth import Credentials, basic_header, fetch_token, parse_challenges
from pycri.cri.images.clients import ClientPool
from pycri.cri.images.content import DigestMismatch, Ingest
from pycri.cri.images.hosts import Endpoint, HostsConfig
from pycri.cri.images.reference import Reference

log = logging.getLogger(__name__)

MAX_MANIFEST_BYTES = 4 << 20
WRITE_BATCH = 1 << 20
SERVER_ERROR_RETRIES = 2
RESUME_RETRIES = 5


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str
    data: bytes

    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.data)
        return parsed


class RegistryClient:
    """Fetches manifests and blobs of one repository, with auth and endpoint fallback."""

    def __init__(
        self, ref: Reference, hosts: HostsConfig, creds: Credentials, pool: ClientPool
    ) -> None:
        self.ref = ref
        self.hosts = hosts
        self.creds = creds
        self.pool = pool
        self.scope = f"repository:{ref.path}:pull"
        self._auth: dict[str, str] = {}
        if creds.registry_token:
            for endpoint in hosts.endpoints:
                self._auth[endpoint.url] = f"Bearer {creds.registry_token}"
        self._preferred: Endpoint | None = None

    def _what(self) -> str:
        return f"pull image `{self.ref}`"

    def _order(self, capability: str) -> Iterator[Endpoint]:
        endpoints = [e for e in self.hosts.endpoints if capability in e.capabilities]
        if self._preferred in endpoints:
            endpoints.remove(self._preferred)
            endpoints.insert(0, self._preferred)
        yield from endpoints or self.hosts.endpoints

    async def _send(
        self, endpoint: Endpoint, path: str, headers: dict[str, str], stream: bool = False
    ) -> httpx.Response:
        """GET base+path with auth, answering one 401 challenge; the caller closes it."""
        client = self.pool.get(endpoint)
        url = f"{endpoint.api_base()}/{self.ref.path}{path}"
        for attempt in range(2):
            merged = dict(endpoint.headers)
            merged.update(headers)
            if endpoint.url in self._auth:
                merged["Authorization"] = self._auth[endpoint.url]
            request = client.build_request("GET", url, headers=merged)
            response = await client.send(request, stream=stream)
            if response.status_code != 401:
                return response
            await response.aclose()
            if attempt or (endpoint.url in self._auth and self.creds.registry_token):
                raise Unauthenticated(self._refused(endpoint))
            await self._authenticate(endpoint, response.headers.get("www-authenticate", ""))
        raise AssertionError("unreachable")

    def _refused(self, endpoint: Endpoint) -> str:
        if self.creds.empty:
            return f"{self._what()}: registry `{endpoint.host}` requires authentication"
        return f"{self._what()}: registry `{endpoint.host}` refused the credentials"

    async def _authenticate(self, endpoint: Endpoint, header: str) -> None:
        client = self.pool.get(endpoint)
        challenges = parse_challenges(header)
        for challenge in challenges:
            if challenge.scheme == "bearer":
                token = await fetch_token(client, challenge, self.scope, self.creds, self._what())
                self._auth[endpoint.url] = f"Bearer {token}"
                return
        for challenge in challenges:
            if challenge.scheme == "basic":
                if self.creds.username or self.creds.password:
                    self._auth[endpoint.url] = basic_header(self.creds)
                    return
                raise Unauthenticated(self._refused(endpoint))
        raise Unauthenticated(
            f"{self._what()}: registry `{endpoint.host}` answered 401 without a usable challenge"
        )

    async def _get_small(self, path: str, accept: str, what: str) -> tuple[httpx.Response, bytes]:
        """GET a manifest-sized object, falling over endpoints; NotFound when none has it."""
        failures: list[str] = []
        not_found = 0
        candidates = list(self._order("resolve" if "/manifests/" in path else "pull"))
        for endpoint in candidates:
            for attempt in range(SERVER_ERROR_RETRIES + 1):
                try:
                    response = await self._send(endpoint, path, {"Accept": accept}, stream=True)
                    try:
                        body = await _read_limited(response, MAX_MANIFEST_BYTES, what)
                    finally:
                        await response.aclose()
                except httpx.TimeoutException as exc:
                    failures.append(f"{endpoint.host}: timed out ({type(exc).__name__})")
                    break
                except httpx.HTTPError as exc:
                    failures.append(f"{endpoint.host}: {_describe(exc)}")
                    break
                if response.status_code == 200:
                    self._preferred = endpoint
                    return response, body
                if response.status_code == 404:
                    not_found += 1
                    failures.append(f"{endpoint.host}: not found ({_registry_error(body)})")
                    break
                if response.status_code in (403,):
                    raise Unauthenticated(f"{self._what()}: {what}: access denied by "
                                          f"`{endpoint.host}` ({_registry_error(body)})")
                failures.append(f"{endpoint.host}: HTTP {response.status_code}")
                if response.status_code < 500 or attempt == SERVER_ERROR_RETRIES:
                    break
                await asyncio.sleep(0.2 * (attempt + 1))
        detail = "; ".join(failures)
        if not_found and not_found == len(candidates):
            raise NotFound(f"{self._what()}: {what}: not found ({detail})")
        raise Unavailable(f"{self._what()}: {what}: {detail}")

    async def resolve(self) -> Manifest:
        """The manifest (or index) the reference names, verified against its digest."""
        return await self.fetch_manifest(self.ref.object)

    async def fetch_manifest(self, tag_or_digest: str) -> Manifest:
        what = f"fetch manifest `{tag_or_digest}`"
        response, body = await self._get_small(f"/manifests/{tag_or_digest}", media.ACCEPT, what)
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if tag_or_digest.startswith("sha256:") and digest != tag_or_digest:
            raise DigestMismatch(f"{self._what()}: {what}: content has digest `{digest}`")
        if tag_or_digest.startswith("sha512:"):
            digest = tag_or_digest if _sha512(body) == tag_or_digest else "sha512:mismatch"
            if digest != tag_or_digest:
                raise DigestMismatch(f"{self._what()}: {what}: content does not match")
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        try:
            parsed = json.loads(body)
        except ValueError as exc:
            raise FailedPrecondition(f"{self._what()}: {what}: manifest is not JSON") from exc
        media_type = parsed.get("mediaType") or media_type
        if media_type in media.SCHEMA1 or parsed.get("schemaVersion") == 1:
            raise FailedPrecondition(
                f"{self._what()}: Docker schema 1 manifests are not supported; push the image "
                "again with a schema 2 or OCI manifest"
            )
        if media_type not in media.INDEXES and media_type not in media.MANIFESTS:
            if "manifests" in parsed:
                media_type = media.OCI_INDEX
            elif "layers" in parsed:
                media_type = media.OCI_MANIFEST
            else:
                raise FailedPrecondition(
                    f"{self._what()}: {what}: unsupported manifest media type `{media_type}`"
                )
        return Manifest(digest=digest, media_type=media_type, data=body)

    async def fetch_small_blob(self, digest: str) -> bytes:
        _, body = await self._get_small(f"/blobs/{digest}", "*/*", f"fetch blob `{digest}`")
        return body

    async def fetch_blob(self, digest: str, ingest: Ingest, sink: BlobSink | None = None) -> None:
        """Stream a blob into `ingest` (the caller commits), resuming broken transfers.

        `sink`, when given, sees the same bytes in order (a streaming unpack); it is told
        when the download has to start over from zero.
        """
        what = f"fetch blob `{digest}`"
        failures: list[str] = []
        for endpoint in self._order("pull"):
            stalled_tries = 0
            server_errors = 0
            while True:
                if ingest.size >= 0 and ingest.offset == ingest.size:
                    return  # everything arrived (maybe before the connection broke)
                before = ingest.offset
                try:
                    outcome = await self._stream_once(endpoint, digest, ingest, sink)
                except httpx.TimeoutException as exc:
                    raise DeadlineExceeded(
                        f"{self._what()}: {what}: no progress from `{endpoint.host}` within the "
                        f"pull progress timeout ({self.pool.progress_timeout:g}s) after "
                        f"{ingest.offset} bytes"
                    ) from exc
                except (httpx.TransportError, httpx.StreamError) as exc:
                    outcome = _describe(exc)
                    if isinstance(exc, httpx.ConnectError):
                        failures.append(f"{endpoint.host}: {outcome}")
                        break
                if outcome == "done":
                    return
                if outcome == "not found":
                    failures.append(f"{endpoint.host}: not found")
                    break
                if outcome.startswith("HTTP 5"):
                    server_errors += 1
                    if server_errors > SERVER_ERROR_RETRIES:
                        failures.append(f"{endpoint.host}: {outcome}")
                        break
                    await asyncio.sleep(0.2 * server_errors)
                    continue
                if outcome.startswith("HTTP"):
                    failures.append(f"{endpoint.host}: {outcome}")
                    break
                # A broken transfer: resume while it keeps making progress.
                stalled_tries = 0 if ingest.offset > before else stalled_tries + 1
                log.info("blob transfer broken, resuming digest=%s offset=%d reason=%s",
                         digest, ingest.offset, outcome)
                if stalled_tries >= RESUME_RETRIES:
                    failures.append(f"{endpoint.host}: {outcome}")
                    break
        if failures and all(f.endswith("not found") for f in failures):
            raise NotFound(f"{self._what()}: {what}: not found ({'; '.join(failures)})")
        raise Unavailable(f"{self._what()}: {what}: {'; '.join(failures) or 'no endpoint'}")

    async def _stream_once(
        self, endpoint: Endpoint, digest: str, ingest: Ingest, sink: BlobSink | None
    ) -> str:
        """One GET of the blob (from where the ingest stands), answering one 401 challenge."""
        for attempt in range(2):
            outcome, challenge = await self._in_thread(endpoint, digest, ingest, sink)
            if outcome != "unauthorized":
                return outcome
            if attempt or (endpoint.url in self._auth and self.creds.registry_token):
                raise Unauthenticated(self._refused(endpoint))
            await self._authenticate(endpoint, challenge)
        raise Unauthenticated(self._refused(endpoint))

    async def _in_thread(
        self, endpoint: Endpoint, digest: str, ingest: Ingest, sink: BlobSink | None
    ) -> tuple[str, str]:
        cancel = threading.Event()
        work = asyncio.ensure_future(
            asyncio.to_thread(self._stream_blocking, endpoint, digest, ingest, sink, cancel)
        )
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            # The thread notices between chunks (a stalled read ends at the read timeout);
            # wait for it so nobody writes into the ingest file after we let go of it.
            cancel.set()
            with contextlib.suppress(BaseException):
                await work
            raise

    def _stream_blocking(
        self,
        endpoint: Endpoint,
        digest: str,
        ingest: Ingest,
        sink: BlobSink | None,
        cancel: threading.Event,
    ) -> tuple[str, str]:
        headers = dict(endpoint.headers)
        headers["Accept"] = "*/*"
        if ingest.offset:
            headers["Range"] = f"bytes={ingest.offset}-"
        if endpoint.url in self._auth:
            headers["Authorization"] = self._auth[endpoint.url]
        url = f"{endpoint.api_base()}/{self.ref.path}/blobs/{digest}"
        client = self.pool.get_sync(endpoint)
        with client.stream("GET", url, headers=headers) as response:
            status = response.status_code
            if status == 401:
                return "unauthorized", response.headers.get("www-authenticate", "")
            if status == 404:
                return "not found", ""
            if status == 416:
                _restart(ingest, sink)
                return "range not satisfiable", ""
            if status not in (200, 206):
                return f"HTTP {status}", ""
            if status == 200 and ingest.offset:
                _restart(ingest, sink)
            elif status == 206 and not _range_starts_at(response, ingest.offset):
                _restart(ingest, sink)
                return "bad content-range", ""
            batch = bytearray()
            try:
                for chunk in response.iter_raw():
                    batch += chunk
                    if len(batch) >= WRITE_BATCH:
                        _write(ingest, bytes(batch), sink)
                        batch.clear()
                    if cancel.is_set():
                        return "cancelled", ""
            finally:
                # Keep what did arrive, even when the transfer broke: the resume starts there.
                if batch:
                    _write(ingest, bytes(batch), sink)
        return "done", ""


class BlobSink(Protocol):
    def feed(self, data: bytes) -> None: ...

    def restart(self) -> None: ...


def _write(ingest: Ingest, data: bytes, sink: BlobSink | None) -> None:
    ingest.write(data)
    if sink is not None:
        sink.feed(data)


def _restart(ingest: Ingest, sink: BlobSink | None) -> None:
    ingest.restart()
    if sink is not None:
        sink.restart()


def _range_starts_at(response: httpx.Response, offset: int) -> bool:
    value = response.headers.get("content-range", "")
    try:
        start = int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return False
    return start == offset


async def _read_limited(response: httpx.Response, limit: int, what: str) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            raise FailedPrecondition(f"{what}: larger than {limit} bytes")
    return bytes(body)


def _registry_error(body: bytes) -> str:
    try:
        errors = json.loads(body).get("errors") or []
        return ", ".join(f"{e.get('code', '?')}: {e.get('message', '')}" for e in errors) or "-"
    except (ValueError, AttributeError):
        return "-"


def _describe(exc: BaseException) -> str:
    """A short reason; httpx hides the socket error (refused, reset) in the cause chain."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return "connection refused"
        if isinstance(seen, ConnectionResetError):
            return "connection reset"
        seen = seen.__cause__ or seen.__context__
    text = str(exc) or type(exc).__name__
    return f"cannot connect: {text}" if isinstance(exc, httpx.ConnectError) else text


def _sha512(body: bytes) -> str:
    return "sha512:" + hashlib.sha512(body).hexdigest()


__all__ = ["ClientPool", "CriError", "Manifest", "RegistryClient"]
