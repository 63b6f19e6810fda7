from __future__ import annotations

import sys
from pathlib import Path

_REPO = str(Path(__file__).resolve().parents[3])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from collections.abc import AsyncIterator, Callable  # noqa: E402

import pytest  # noqa: E402

from pycri.cri.images.config import ImageConfig  # noqa: E402
from pycri.cri.images.service import ImageService  # noqa: E402
from pycri.cri.store import Store  # noqa: E402
from tests.fixtures.plugin import auth_registry, pushed_images, registry  # noqa: E402, F401

ServiceFactory = Callable[..., ImageService]


@pytest.fixture
async def make_service(tmp_path: Path) -> AsyncIterator[ServiceFactory]:
    """Build ImageServices on one state root (a second call = a daemon restart)."""
    made: list[tuple[ImageService, Store]] = []

    def make(**overrides: object) -> ImageService:
        settings: dict[str, object] = {
            "state_root": tmp_path / "root",
            "registry_config_dir": str(tmp_path / "certs.d"),
            "pull_progress_timeout": 10.0,
            "platform": "linux/amd64",
        }
        settings.update(overrides)
        store = Store(tmp_path / "root" / "meta.db")
        service = ImageService(store, ImageConfig(**settings))  # type: ignore[arg-type]
        service.manager.recover()
        made.append((service, store))
        return service

    yield make
    for service, store in made:
        await service.close()
        store.close()


@pytest.fixture
async def service(make_service: ServiceFactory) -> ImageService:
    return make_service()
