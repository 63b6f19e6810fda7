from __future__ import annotations

import pytest

from pycri.cri.errors import FailedPrecondition, InvalidArgument, NotFound
from pycri.cri.images import hosts, media
from pycri.cri.images.auth import Credentials, parse_challenges
from pycri.cri.images.media import Platform, choose_manifest


def test_defaults_without_config(tmp_path):
    assert [e.url for e in hosts.load("docker.io", tmp_path).endpoints] == [
        "https://registry-1.docker.io"]
    assert [e.url for e in hosts.load("quay.io", None).endpoints] == ["https://quay.io"]
    for local in ("localhost:5000", "127.0.0.1:5000", "127.1.2.3", "[::1]:5000", "localhost"):
        (endpoint,) = hosts.load(local, tmp_path).endpoints
        assert endpoint.plain_http, local
        assert endpoint.tls() is False


def test_hosts_toml_mirrors_in_order_then_server(tmp_path):
    directory = tmp_path / "docker.io"
    directory.mkdir()
    (directory / "hosts.toml").write_text('''
server = "https://registry-1.docker.io"

[host."http://mirror-a:5000"]
  capabilities = ["pull", "resolve"]
  skip_verify = true

[host."https://mirror-b"]
  capabilities = ["pull"]
  ca = "ca.pem"
  client = [["client.cert", "client.key"]]
  override_path = true
  [host."https://mirror-b".header]
    x-team = ["a", "b"]
''')
    config = hosts.load("docker.io", tmp_path)
    a, b, server = config.endpoints
    assert (a.url, a.plain_http, a.skip_verify, a.is_mirror) == ("http://mirror-a:5000", True,
                                                                  True, True)
    assert a.api_base() == "http://mirror-a:5000/v2"
    assert b.capabilities == ("pull",) and b.api_base() == "https://mirror-b"
    assert b.ca_files == (str(directory / "ca.pem"),)
    assert b.client_certs == ((str(directory / "client.cert"), str(directory / "client.key")),)
    assert b.headers == (("x-team", "a"), ("x-team", "b"))
    assert server.url == "https://registry-1.docker.io" and not server.is_mirror


def test_default_dir_and_bad_toml(tmp_path):
    (tmp_path / "_default").mkdir()
    (tmp_path / "_default" / "hosts.toml").write_text('[host."http://cache:5000"]\n')
    assert hosts.load("example.com", tmp_path).endpoints[0].url == "http://cache:5000"
    (tmp_path / "bad.io").mkdir()
    (tmp_path / "bad.io" / "hosts.toml").write_text("server = ")
    with pytest.raises(InvalidArgument, match=r"hosts\.toml"):
        hosts.load("bad.io", tmp_path)


def test_parse_challenges():
    (bearer,) = parse_challenges(
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:a/b:pull"')
    assert bearer.scheme == "bearer"
    assert bearer.params == {"realm": "https://auth.example/token", "service": "registry.example",
                             "scope": "repository:a/b:pull"}
    basic, other = parse_challenges('Basic realm="x y", Bearer realm="https://t"')
    assert (basic.scheme, basic.params["realm"]) == ("basic", "x y")
    assert (other.scheme, other.params["realm"]) == ("bearer", "https://t")


def test_credentials_from_auth_config():
    class Auth:
        username = ""
        password = ""
        auth = "dXNlcjpwYTpzcw=="  # user:pa:ss
        identity_token = ""
        registry_token = ""

    creds = Credentials.from_auth_config(Auth())
    assert (creds.username, creds.password) == ("user", "pa:ss")
    Auth.auth = "!!!"
    with pytest.raises(InvalidArgument, match="base64"):
        Credentials.from_auth_config(Auth())
    assert Credentials.from_auth_config(None).empty


INDEX = {"manifests": [
    {"mediaType": media.OCI_MANIFEST, "digest": "sha256:arm",
     "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
    {"mediaType": media.OCI_MANIFEST, "digest": "sha256:att",
     "platform": {"os": "unknown", "architecture": "unknown"}},
    {"mediaType": media.OCI_MANIFEST, "digest": "sha256:amd",
     "platform": {"os": "linux", "architecture": "amd64"}},
    {"mediaType": media.OCI_MANIFEST, "digest": "sha256:armv7",
     "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
]}


@pytest.mark.parametrize(("want", "digest"), [
    ("linux/amd64", "sha256:amd"),
    ("linux/arm64", "sha256:arm"),
    ("linux/arm64/v8", "sha256:arm"),
    ("linux/arm/v7", "sha256:armv7"),
])
def test_choose_manifest(want, digest):
    assert choose_manifest(INDEX, Platform.parse(want), "x")["digest"] == digest


def test_choose_manifest_none_fits():
    with pytest.raises(NotFound, match="linux/s390x"):
        choose_manifest(INDEX, Platform.parse("linux/s390x"), "x")


def test_compression_of():
    assert media.compression_of(media.DOCKER_LAYER_GZIP) == "gzip"
    assert media.compression_of(media.OCI_LAYER_ZSTD) == "zstd"
    assert media.compression_of(media.OCI_LAYER) == "none"
    with pytest.raises(FailedPrecondition, match="unsupported layer media type"):
        media.compression_of("application/x-helm")
