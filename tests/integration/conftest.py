"""Fixtures shared by the integration tests."""

from __future__ import annotations

from tests.support.rig import rig

__all__ = ["rig"]
