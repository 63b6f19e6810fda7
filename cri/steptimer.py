"""Durations of the steps of a slow operation, for one DEBUG line at its end."""

from __future__ import annotations

import time


class StepTimer:
    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.steps: list[tuple[str, float]] = []

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.steps.append((name, (now - self._last) * 1000))
        self._last = now

    def __str__(self) -> str:
        return " ".join(f"{name}_ms={ms:.1f}" for name, ms in self.steps)
