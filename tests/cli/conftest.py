"""Command-line tests train on tiny in-memory datasets served in place of engine.data.load."""

from __future__ import annotations

import json

import pytest

from engine import data
from tests.engine.training_toys import TOY_SPEC, toy_dataset

TOY_DATASETS = {
    "toy": lambda: toy_dataset(),
    "toy-rgb": lambda: toy_dataset(shape=(8, 8, 3), kind="colour", name="toy-rgb"),
}


@pytest.fixture
def toy_data(monkeypatch):
    """`data.load("toy")` (8x8 grey digits kind) and `data.load("toy-rgb")` (8x8 colour)."""

    def fake_load(name, data_dir=None, **kw):
        if name not in TOY_DATASETS:
            raise data.DatasetNotFound(f"unknown dataset {name!r}", name=name)
        return TOY_DATASETS[name]()

    monkeypatch.setattr(data, "load", fake_load)
    return fake_load


@pytest.fixture
def toy_arch(tmp_path):
    """The toy network as a JSON spec file, as `train --arch FILE.json` takes it."""
    path = tmp_path / "toy.json"
    path.write_text(json.dumps(TOY_SPEC))
    return str(path)
