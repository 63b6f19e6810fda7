"""Garbage collection: delete blobs and layer snapshots that nothing references.

Roots: every recorded image (its content digests and chain IDs), every container snapshot
(its parent chain), and the leases of pulls in flight.
"""

from __future__ import annotations

import json
import logging
from typing import Protocol

from pycri.cri.images.content import ContentStore
from pycri.cri.images.snapshots import COMMITTED, Snapshotter
from pycri.cri.store import Store

log = logging.getLogger(__name__)

INGEST_MAX_AGE_S = 15 * 60.0


class LeaseView(Protocol):
    digests: dict[str, int]
    chains: dict[str, int]


def collect(
    store: Store, content: ContentStore, snapshotter: Snapshotter, leases: LeaseView
) -> tuple[int, int]:
    """Delete what no root reaches; returns (blobs removed, snapshots removed)."""
    with store.read() as conn:
        live_digests = {r[0] for r in conn.execute("SELECT DISTINCT digest FROM image_content")}
        live_chains: set[str] = set()
        for row in conn.execute("SELECT chain_ids FROM images"):
            live_chains.update(json.loads(row[0]))
        parents = {r[0]: r[1] for r in conn.execute("SELECT key, parent FROM snapshots")}
        committed = [r[0] for r in conn.execute(
            "SELECT key FROM snapshots WHERE kind = ?", (COMMITTED,))]
        tops = [r[0] for r in conn.execute(
            "SELECT parent FROM snapshots WHERE kind = 'active'")]
    for top in [*tops, *leases.chains]:
        while top and top not in live_chains:
            live_chains.add(top)
            top = parents.get(top, "")
    live_digests.update(leases.digests)
    dead_chains = [key for key in committed if key not in live_chains]
    removed_snapshots = snapshotter.delete_layers(dead_chains)
    removed_blobs = 0
    for digest in list(content.digests()):
        # Re-read the leases: a pull may have started while we walked the store.
        if digest not in live_digests and digest not in leases.digests:
            removed_blobs += content.delete(digest)
    # Partial downloads are kept so a retry resumes; one nobody retried for long is garbage.
    removed_blobs += content.expire_ingest(INGEST_MAX_AGE_S)
    if removed_blobs or removed_snapshots:
        log.info("gc removed blobs=%d snapshots=%d", removed_blobs, removed_snapshots)
    return removed_blobs, removed_snapshots
