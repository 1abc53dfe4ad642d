"""Store the "unlike the training data" threshold in model files, calibrated on each model's
own test set, and prove that nothing else in the model changed.

    CNN_STUDIO_DATA=/path/to/datasets python scripts/calibrate_ood.py assets/*.pkl

For each model: read its dataset's test split, take the familiarity score (energy) threshold
that keeps 95 % of the test images familiar, write it into the file, read the file back and
check that every array and every other field is identical and that the test predictions are
bit-identical.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import data
from engine.explain import calibrate_ood, read_ood_calibration, store_ood_calibration
from engine.explain.ood import META_KEY
from engine.serialize import load_model, save_model


def calibrate_file(path: Path, familiar_rate: float, data_dir: str | None) -> str:
    trained = load_model(path)
    name = trained.meta.get("dataset", {}).get("name")
    if not name:
        raise ValueError(f"{path}: the model file does not say which dataset it was trained on")
    dataset = data.load(name, data_dir)
    trained.check_dataset(dataset)
    x_test = trained.normalize(dataset.x_test)
    before = trained.model.predict_proba(x_test)
    state_before = trained.model.state_dict()
    meta_before = {k: v for k, v in dict(trained.meta).items() if k != META_KEY}

    calibration = calibrate_ood(trained.model, x_test, familiar_rate=familiar_rate,
                                dataset=name, split="test")
    store_ood_calibration(trained.meta, calibration)
    # Written beside the file and checked before it replaces it.
    candidate = path.with_name(f".{path.name}.calibrated.pkl")
    save_model(trained, candidate)
    try:
        check_unchanged(candidate, calibration, trained, state_before, meta_before, before,
                        x_test)
    except BaseException:
        candidate.unlink(missing_ok=True)
        raise
    os.replace(candidate, path)
    return (f"{path}: {calibration.score} threshold {calibration.threshold:.4f} keeps "
            f"{calibration.familiar_rate:.2%} of {calibration.images} {name} test images "
            f"familiar; arrays, other fields and all {len(before)} test predictions identical "
            "after reloading")


def check_unchanged(path: Path, calibration, trained, state_before: dict, meta_before: dict,
                    before: np.ndarray, x_test: np.ndarray) -> None:
    """AssertionError unless the file at ``path`` holds ``calibration`` and otherwise the same
    network (arrays, resolved spec), fields and test predictions as before."""
    reloaded = load_model(path)
    if read_ood_calibration(reloaded.meta) != calibration:
        raise AssertionError(f"{path}: the calibration did not read back")
    state = reloaded.model.state_dict()
    if set(state) != set(state_before) or any(
            not np.array_equal(state[k], v) or state[k].dtype != v.dtype
            for k, v in state_before.items()):
        raise AssertionError(f"{path}: the stored arrays changed")
    if reloaded.model.spec != trained.model.spec:
        raise AssertionError(f"{path}: the network's spec changed")
    # The spec is written as this engine resolves it (with every layer key's default), so it
    # is compared as the rebuilt network above, not as the text stored before.
    meta_after = {k: v for k, v in dict(reloaded.meta).items() if k not in (META_KEY, "spec")}
    meta_before = {k: v for k, v in meta_before.items() if k != "spec"}
    if repr(meta_after) != repr(meta_before):
        raise AssertionError(f"{path}: fields other than {META_KEY!r} changed")
    after = reloaded.model.predict_proba(x_test)
    if not np.array_equal(after, before):
        raise AssertionError(f"{path}: the test predictions changed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", type=Path, help="model files to calibrate")
    parser.add_argument("--familiar-rate", type=float, default=0.95,
                        help="share of test images that must count as familiar [0.95]")
    parser.add_argument("--data-dir", help="datasets folder (default: CNN_STUDIO_DATA, ...)")
    args = parser.parse_args(argv)
    try:
        for path in args.models:
            print(calibrate_file(path, args.familiar_rate, args.data_dir), flush=True)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
