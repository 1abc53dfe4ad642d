"""Isolation for the data tests: per-user folders point into a temporary directory."""

from __future__ import annotations

import pytest

from engine.data.paths import default_cache_dir

# Captured before any test patches the environment: real-data tests decode into the real cache
# once and reuse it (CNN_STUDIO_CACHE or the per-user cache).
REAL_CACHE_DIR = default_cache_dir()


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.delenv("CNN_STUDIO_CACHE", raising=False)


@pytest.fixture(scope="session")
def real_cache_dir():
    return REAL_CACHE_DIR
