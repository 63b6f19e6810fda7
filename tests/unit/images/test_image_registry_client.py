"""The registry client against an in-memory registry (httpx.MockTransport)."""

from __future__ import annotations

import base64
import hashlib
import json

import httpx
import pytest

from pycri.cri.errors import FailedPrecondition, NotFound, Unauthenticated
from pycri.cri.images import hosts, media
from pycri.cri.images.auth import Credentials
from pycri.cri.images.content import ContentStore, DigestMismatch
from pycri.cri.images.reference import parse
from pycri.cri.images.registry import ClientPool, RegistryClient

MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": media.OCI_MANIFEST,
                       "config": {}, "layers": []}).encode()
MANIFEST_DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
BLOB = bytes(range(256)) * 400
BLOB_DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


class FakeRegistry:
    """A registry that wants a bearer token (or basic auth) and can break blob transfers."""

    def __init__(self, auth: str = "bearer") -> None:
        self.auth = auth
        self.token_requests: list[httpx.Request] = []
        self.requests: list[httpx.Request] = []
        self.cut_next = 0
        self.blob_ranges: list[str | None] = []
        self.manifest = MANIFEST

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return self.token(request)
        self.requests.append(request)
        if not self.authorised(request):
            challenge = ('Bearer realm="https://auth.test/token",service="reg.test"'
                         if self.auth == "bearer" else 'Basic realm="reg"')
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        path = request.url.path
        if path == "/v2/org/app/manifests/v1" or path == f"/v2/org/app/manifests/{MANIFEST_DIGEST}":
            return httpx.Response(200, content=self.manifest,
                                  headers={"Content-Type": media.OCI_MANIFEST})
        if path == f"/v2/org/app/blobs/{BLOB_DIGEST}":
            return self.blob(request)
        return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN",
                                                     "message": "manifest unknown"}]})

    def authorised(self, request: httpx.Request) -> bool:
        header = request.headers.get("authorization", "")
        if self.auth == "bearer":
            return header == "Bearer good-token"
        return header == "Basic " + base64.b64encode(b"alice:secret").decode()

    def token(self, request: httpx.Request) -> httpx.Response:
        self.token_requests.append(request)
        if request.method == "POST":
            form = dict(x.split("=", 1) for x in request.content.decode().split("&"))
            ok = form.get("grant_type") == "refresh_token" and form.get("refresh_token") == "idt"
        else:
            basic = request.headers.get("authorization", "")
            ok = basic in ("", "Basic " + base64.b64encode(b"alice:secret").decode())
            assert request.url.params.get("scope") == "repository:org/app:pull"
            assert request.url.params.get("service") == "reg.test"
        if not ok:
            return httpx.Response(401)
        return httpx.Response(200, json={"token": "good-token"})

    def blob(self, request: httpx.Request) -> httpx.Response:
        self.blob_ranges.append(request.headers.get("range"))
        start = 0
        if request.headers.get("range"):
            start = int(request.headers["range"].split("=")[1].rstrip("-"))
        body = BLOB[start:]
        status = 206 if start else 200
        headers = {"Content-Range": f"bytes {start}-{len(BLOB) - 1}/{len(BLOB)}"} if start else {}
        if self.cut_next:
            self.cut_next -= 1

            class Broken(httpx.SyncByteStream, httpx.AsyncByteStream):
                def __iter__(self):
                    yield body[: len(body) // 3]
                    raise httpx.ReadError("connection reset by peer")

                async def __aiter__(self):
                    for chunk in self:
                        yield chunk

            return httpx.Response(status, headers=headers, stream=Broken())

        class Whole(httpx.SyncByteStream, httpx.AsyncByteStream):
            def __iter__(self):
                yield body

            async def __aiter__(self):
                yield body

        return httpx.Response(status, headers=headers, stream=Whole())


def client_for(fake: FakeRegistry, creds: Credentials | None = None) -> RegistryClient:
    pool = ClientPool(5.0, transport=httpx.MockTransport(fake.handler))
    config = hosts.HostsConfig("reg.test", [hosts.Endpoint("https://reg.test")])
    return RegistryClient(parse("reg.test/org/app:v1"), config, creds or Credentials(), pool)


async def test_anonymous_bearer_token_flow():
    fake = FakeRegistry()
    manifest = await client_for(fake).resolve()
    assert manifest.digest == MANIFEST_DIGEST and manifest.media_type == media.OCI_MANIFEST
    assert len(fake.token_requests) == 1


async def test_identity_token_uses_refresh_grant():
    fake = FakeRegistry()
    await client_for(fake, Credentials(identity_token="idt")).resolve()
    assert fake.token_requests[0].method == "POST"


async def test_registry_token_is_sent_as_is():
    fake = FakeRegistry()
    await client_for(fake, Credentials(registry_token="good-token")).resolve()
    assert fake.token_requests == []
    with pytest.raises(Unauthenticated, match="refused the credentials"):
        await client_for(FakeRegistry(), Credentials(registry_token="bad")).resolve()


async def test_wrong_password_at_token_server():
    fake = FakeRegistry()
    with pytest.raises(Unauthenticated, match="refused the credentials"):
        await client_for(fake, Credentials("alice", "wrong")).resolve()


async def test_basic_auth():
    fake = FakeRegistry(auth="basic")
    with pytest.raises(Unauthenticated, match="requires authentication"):
        await client_for(fake).resolve()
    assert (await client_for(fake, Credentials("alice", "secret")).resolve()).digest
    with pytest.raises(Unauthenticated, match="refused"):
        await client_for(fake, Credentials("alice", "nope")).resolve()


async def test_unknown_tag_is_not_found():
    with pytest.raises(NotFound, match="MANIFEST_UNKNOWN"):
        await client_for(FakeRegistry()).fetch_manifest("v2")


async def test_manifest_digest_is_verified():
    fake = FakeRegistry()
    fake.manifest = MANIFEST + b" "
    with pytest.raises(DigestMismatch):
        await client_for(fake).fetch_manifest(MANIFEST_DIGEST)


async def test_schema1_is_refused():
    fake = FakeRegistry()
    fake.manifest = json.dumps({"schemaVersion": 1, "fsLayers": []}).encode()
    with pytest.raises(FailedPrecondition, match="schema 1"):
        await client_for(fake).resolve()


async def test_blob_resumes_after_broken_transfers(tmp_path):
    fake = FakeRegistry()
    fake.cut_next = 2
    store = ContentStore(tmp_path)
    ingest = store.ingest(BLOB_DIGEST, len(BLOB))
    await client_for(fake).fetch_blob(BLOB_DIGEST, ingest)
    ingest.commit()
    assert store.read(BLOB_DIGEST) == BLOB
    ranges = fake.blob_ranges
    assert ranges[0] is None and all(r and r != "bytes=0-" for r in ranges[1:])
    assert len(ranges) == 3
