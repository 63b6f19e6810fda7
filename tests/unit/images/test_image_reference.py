from __future__ import annotations

import pytest

from pycri.cri.errors import InvalidArgument
from pycri.cri.images import reference
from pycri.cri.images.reference import familiar, is_image_id, parse

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(("text", "want"), [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest"),
    ("index.docker.io/library/busybox", "docker.io/library/busybox:latest"),
    ("user/app:v1", "docker.io/user/app:v1"),
    ("quay.io/org/app", "quay.io/org/app:latest"),
    ("localhost/app", "localhost/app:latest"),
    ("localhost:5000/app:dev", "localhost:5000/app:dev"),
    ("127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000/a/b/c:t"),
    ("[::1]:5000/app", "[::1]:5000/app:latest"),
    (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}"),
    (f"busybox:1.36@{DIGEST}", f"docker.io/library/busybox:1.36@{DIGEST}"),
    ("Registry.Example/app", "Registry.Example/app:latest"),
    ("org/a_b.c-d__e---f", "docker.io/org/a_b.c-d__e---f:latest"),
])
def test_normalises_like_docker(text, want):
    assert str(parse(text)) == want


def test_parts():
    ref = parse(f"localhost:5000/app:dev@{DIGEST}")
    assert (ref.domain, ref.path, ref.tag, ref.digest) == ("localhost:5000", "app", "dev", DIGEST)
    assert ref.object == DIGEST and ref.tagged() == "localhost:5000/app:dev"
    assert ref.with_digest(DIGEST) == f"localhost:5000/app@{DIGEST}"


@pytest.mark.parametrize(("text", "why"), [
    ("", "empty"),
    ("Busybox", "lowercase"),
    ("busybox:", "invalid tag"),
    ("busybox:-x", "invalid tag"),
    ("busybox:" + "t" * 129, "invalid tag"),
    ("a//b", "invalid path component"),
    ("a/-b", "invalid path component"),
    ("busybox@sha256:abc", "64 lowercase hex"),
    ("busybox@md5:" + "a" * 32, "unsupported algorithm"),
    ("a" * 64, "image ID"),
    (" busybox", "whitespace"),
    ("bad.host!/app", "invalid registry"),
    ("x/" + "a" * 260, "longer than"),
])
def test_rejects_malformed(text, why):
    with pytest.raises(InvalidArgument, match=why):
        parse(text)


def test_image_ids_and_familiar_names():
    assert is_image_id("a" * 64) and is_image_id("sha256:" + "b" * 64)
    assert not is_image_id("busybox")
    assert familiar("docker.io/library/busybox:latest") == "busybox:latest"
    assert familiar("docker.io/user/app:v1") == "user/app:v1"
    assert familiar("quay.io/org/app:v1") == "quay.io/org/app:v1"
    assert reference.validate_digest(DIGEST) == DIGEST
