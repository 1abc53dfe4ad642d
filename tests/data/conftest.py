"""Isolation for the data tests: per-user folders point into a temporary directory."""

from __future__ import annotations

import pytest

from tests.conftest import REAL_CACHE_DIR


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.delenv("CNN_STUDIO_CACHE", raising=False)


@pytest.fixture(scope="session")
def real_cache_dir():
    return REAL_CACHE_DIR
