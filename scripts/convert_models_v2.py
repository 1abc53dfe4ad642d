"""Rewrite model files in format version 2 and prove the network is unchanged.

Usage: python scripts/convert_models_v2.py FILE.pkl ...

For each file: read it (version 1 or 2), write it as version 2 through a temporary copy, read
that back, and replace the file only if every stored array is bit-identical and the predicted
probabilities of 256 seeded random images are identical. Prints one line per file.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.serialize import load_model, read_payload, save_model  # noqa: E402


def convert(path: Path) -> str:
    before = load_model(path)
    version = read_payload(path)["format_version"]
    images = np.random.default_rng(0).integers(0, 256, (256, *before.input_shape), np.uint8)
    with tempfile.TemporaryDirectory(dir=path.parent) as folder:
        tmp = Path(folder) / path.name
        save_model(before, tmp)
        after = load_model(tmp)
        old, new = before.model.state_dict(), after.model.state_dict()
        same_arrays = old.keys() == new.keys() and all(
            np.array_equal(old[k], new[k]) and old[k].dtype == new[k].dtype for k in old)
        p_old, p_new = before.predict_proba(images), after.predict_proba(images)
        if not (same_arrays and np.array_equal(p_old, p_new)):
            return f"{path}: NOT converted: the rewritten file differs"
        tmp.replace(path)
    return (f"{path}: version {version} -> 2; {len(old)} arrays bit-identical, predictions on "
            f"{len(images)} random images identical (max |diff| "
            f"{float(np.abs(p_old - p_new).max()):.1e})")


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(convert(Path(name)))
