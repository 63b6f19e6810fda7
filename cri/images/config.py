"""Settings of the image service (a view of the daemon config plus paths)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pycri.cri.images.hosts import DEFAULT_CONFIG_DIR
from pycri.cri.images.media import Platform, host_platform


@dataclass
class ImageConfig:
    state_root: Path
    snapshot_root: Path | None = None  # default <state_root>/snapshots
    registry_config_dir: str = DEFAULT_CONFIG_DIR
    max_concurrent_downloads: int = 3
    max_concurrent_unpacks: int = 2
    pull_progress_timeout: float = 300.0
    platform: str = ""  # os/arch[/variant]; empty means this node's
    fs_info_cache_s: float = 10.0

    @property
    def content_root(self) -> Path:
        return Path(self.state_root) / "content"

    @property
    def snapshots_root(self) -> Path:
        return Path(self.snapshot_root or Path(self.state_root) / "snapshots")

    def target_platform(self) -> Platform:
        return Platform.parse(self.platform) if self.platform else host_platform()

    @classmethod
    def from_daemon(cls, config: Any) -> ImageConfig:
        """From pycri.cri.config.Config (its `root` and `image` section)."""
        image = config.image
        return cls(
            state_root=Path(config.root),
            registry_config_dir=image.registry_config_dir,
            max_concurrent_downloads=image.max_concurrent_downloads,
            pull_progress_timeout=image.pull_progress_timeout,
        )
