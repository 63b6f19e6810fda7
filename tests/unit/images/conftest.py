from __future__ import annotations

import sys
from pathlib import Path

_REPO = str(Path(__file__).resolve().parents[3])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from tests.fixtures.plugin import auth_registry, pushed_images, registry  # noqa: E402, F401
