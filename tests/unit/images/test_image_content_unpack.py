from __future__ import annotations

import hashlib
import tarfile

import pytest

from pycri.cri.images.content import ContentStore, DigestMismatch
from pycri.cri.images.pull import chain_ids
from pycri.cri.images.unpack import LayerError, apply_layer
from tests.fixtures.images import LayerBuilder


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_ingest_commit_verifies_and_renames(tmp_path):
    store = ContentStore(tmp_path)
    data = b"hello world" * 1000
    writer = store.ingest(digest(data), len(data))
    writer.write(data[:100])
    assert not store.has(digest(data))
    writer.write(data[100:])
    path = writer.commit()
    assert path.read_bytes() == data and store.has(digest(data))
    assert list((tmp_path / "ingest").iterdir()) == []


def test_ingest_resumes_from_partial_file(tmp_path):
    store = ContentStore(tmp_path)
    data = bytes(range(256)) * 100
    first = store.ingest(digest(data), len(data))
    first.write(data[:5000])
    first.abort(keep=True)
    second = store.ingest(digest(data), len(data))
    assert second.offset == 5000
    second.write(data[5000:])
    second.commit()
    assert store.read(digest(data)) == data


def test_mismatch_leaves_nothing(tmp_path):
    store = ContentStore(tmp_path)
    data = b"x" * 10
    writer = store.ingest(digest(data), len(data))
    writer.write(b"y" * 10)
    with pytest.raises(DigestMismatch, match="content has digest"):
        writer.commit()
    assert not store.has(digest(data))
    assert list((tmp_path / "ingest").iterdir()) == []
    short = store.ingest(digest(data), len(data))
    short.write(b"x" * 5)
    with pytest.raises(DigestMismatch, match="got 5 bytes"):
        short.commit()
    with pytest.raises(DigestMismatch):
        store.put(digest(data), b"z")


def test_put_delete_list_clean(tmp_path):
    store = ContentStore(tmp_path)
    store.put(digest(b"a"), b"a")
    assert list(store.digests()) == [digest(b"a")]
    (tmp_path / "ingest" / "leftover").write_bytes(b"x")
    assert store.clean_ingest() == 1
    assert store.delete(digest(b"a")) and not store.delete(digest(b"a"))


def test_chain_ids():
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    assert chain_ids([a]) == [a]
    assert chain_ids([a, b])[1] == digest(f"{a} {b}".encode())


def write_layer(tmp_path, builder: LayerBuilder, compression: str = "gzip"):
    blob = builder.build(compression)
    path = tmp_path / "layer"
    path.write_bytes(blob.data)
    return path, blob


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_unpack_files_dirs_links_and_diff_id(tmp_path, compression):
    builder = (LayerBuilder().dir("etc", mode=0o750).file("etc/conf", b"k=v\n", mode=0o640)
               .symlink("etc/link", "/etc/conf").hardlink("etc/again", "etc/conf")
               .file("bin/tool", b"#!/bin/sh\n", mode=0o755, xattrs={"user.note": b"hi"}))
    path, blob = write_layer(tmp_path, builder, compression)
    dest = tmp_path / "fs"
    dest.mkdir()
    stats = apply_layer(path, compression, dest)
    assert stats.diff_id == blob.diff_id
    assert (dest / "etc/conf").read_bytes() == b"k=v\n"
    assert (dest / "etc/conf").stat().st_mode & 0o777 == 0o640
    assert (dest / "etc").stat().st_mode & 0o777 == 0o750
    assert (dest / "etc/link").readlink().as_posix() == "/etc/conf"
    assert (dest / "etc/again").stat().st_ino == (dest / "etc/conf").stat().st_ino
    assert (dest / "bin").is_dir()  # implied parents are created
    assert int((dest / "etc/conf").stat().st_mtime) == 1_700_000_000
    assert int((dest / "etc").stat().st_mtime) == 1_700_000_000


def _raw(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


@pytest.mark.parametrize(("entries", "why"), [
    ([_raw("../evil")], "escapes the layer"),
    ([_raw("a/../../evil")], "escapes the layer"),
    ([_raw("/etc/evil")], "absolute path"),
    ([_raw("out", tarfile.SYMTYPE, "/"), _raw("out/evil")], "not a directory"),
    ([_raw("up", tarfile.SYMTYPE, ".."), _raw("up/evil")], "not a directory"),
    ([_raw("link", tarfile.LNKTYPE, "../../etc/passwd")], "escapes the layer"),
    ([_raw("d", tarfile.SYMTYPE, "/etc"), _raw("x", tarfile.LNKTYPE, "d/passwd")], "symlink"),
    ([_raw("x", tarfile.LNKTYPE, "missing")], "neither this layer nor a parent"),
])
def test_unpack_refuses_entries_that_escape(tmp_path, entries, why):
    builder = LayerBuilder()
    for info in entries:
        builder.raw(info, b"" if info.type == tarfile.REGTYPE else None)
    path, _ = write_layer(tmp_path, builder, "none")
    dest = tmp_path / "fs"
    dest.mkdir()
    with pytest.raises(LayerError, match=why):
        apply_layer(path, "none", dest)
    assert not (tmp_path / "evil").exists()


def test_hardlink_into_a_parent_layer_copies_up(tmp_path):
    lower = tmp_path / "lower"
    (lower / "bin").mkdir(parents=True)
    (lower / "bin/tool").write_bytes(b"tool")
    path, _ = write_layer(tmp_path, LayerBuilder().hardlink("bin/alias", "bin/tool"), "none")
    dest = tmp_path / "fs"
    dest.mkdir()
    apply_layer(path, "none", dest, [lower])
    assert (dest / "bin/alias").read_bytes() == b"tool"
    assert (dest / "bin/alias").stat().st_ino == (dest / "bin/tool").stat().st_ino


def test_corrupt_gzip_is_a_layer_error(tmp_path):
    path = tmp_path / "layer"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage-garbage")
    dest = tmp_path / "fs"
    dest.mkdir()
    with pytest.raises(LayerError, match="corrupt"):
        apply_layer(path, "gzip", dest)
