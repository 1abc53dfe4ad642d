"""A fuzz worker process: loads the cases it is sent and says how each one ended.

Run as ``python -m tests.fuzz.worker MODEL CHECKPOINT SEED``; reads JSON lines
``{"kind": "model" | "checkpoint", "source": "mutation" | "crafted", "case": n}`` on stdin and
answers each with one JSON line ``{"family", "outcome", "detail", "seconds"}``. Outcomes:
"identical" / "loaded" (a re-signed file that loads), "refused" (one-line ValueError/OSError),
or a failure: "changed", "traceback", "bad message", "slow", "memory". A crash or hang kills
the process; the parent notices and counts it. The address space is capped at what the worker
uses after start-up plus 200 MB, so a case that allocates more fails with MemoryError.
"""

from __future__ import annotations

import json
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from engine.plain_file import load_plain
from engine.serialize import load_model
from engine.training.checkpoint import read_checkpoint
from engine.training.run import train_model
from engine.training.trainer import TrainingControl
from tests.fuzz.crafted import crafted_cases
from tests.fuzz.mutations import mutate

MEMORY_HEADROOM = 200 * 1024 * 1024
TIME_LIMIT = 1.0
_REPR = re.compile(r"<[\w.]+ object at 0x|Traceback|\n")


def same(a: object, b: object) -> bool:
    """Deep equality with arrays compared by dtype and bits."""
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
                and a.tobytes() == b.tobytes())
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return (type(a) is type(b) and len(a) == len(b)
                and all(same(x, y) for x, y in zip(a, b, strict=True)))
    return type(a) is type(b) and (a == b or (a != a and b != b))


def _address_space() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


class Worker:
    def __init__(self, model_path: Path, checkpoint_path: Path, seed: int) -> None:
        self.originals = {"model": model_path.read_bytes(),
                          "checkpoint": checkpoint_path.read_bytes()}
        self.model = load_model(model_path)
        self.checkpoint = read_checkpoint(checkpoint_path).state
        self.seed = seed
        self.crafted = crafted_cases(load_plain(model_path), self.checkpoint)
        self.folder = Path(tempfile.mkdtemp(prefix="cnn-fuzz-"))
        self.probe = np.zeros((2, *self.model.input_shape), np.uint8)
        self.dataset = fuzz_dataset()

    def _resume(self, path: Path) -> None:
        """Restore the run from ``path`` as ``train --resume`` does, stopping before training."""
        control = TrainingControl()
        control.stop()
        train_model(None, self.dataset, resume_from=path, control=control,
                    evaluate_if_stopped=False)

    def case_bytes(self, kind: str, source: str, case: int) -> tuple[str, bytes, bool]:
        if source == "crafted":
            family, _, data = [c for c in self.crafted if c[1] == kind][case]
            return family, data, True
        return mutate(self.originals[kind], case, self.seed)

    def run(self, kind: str, source: str, case: int) -> dict:
        family, data, must_match = self.case_bytes(kind, source, case)
        path = self.folder / f"case-{kind}.pkl"
        path.write_bytes(data)
        start = time.perf_counter()
        try:
            outcome, detail = self._load(kind, path, must_match)
        except MemoryError:
            outcome, detail = "memory", "MemoryError"
        except (ValueError, OSError) as exc:
            text = str(exc)
            if "MemoryError" in text:
                outcome, detail = "memory", text
            elif _REPR.search(text) or len(text) > 600 or not text:
                outcome, detail = "bad message", text[:300]
            else:
                outcome, detail = "refused", text
        except BaseException as exc:  # what the fuzz looks for: anything else escapes
            outcome, detail = "traceback", f"{type(exc).__name__}: {str(exc)[:200]}"
        seconds = time.perf_counter() - start
        if seconds > TIME_LIMIT and outcome not in ("traceback", "memory"):
            outcome, detail = "slow", f"{seconds:.2f} s: {detail[:200]}"
        return {"family": family, "outcome": outcome, "detail": detail[:300],
                "seconds": seconds}

    def _load(self, kind: str, path: Path, must_match: bool) -> tuple[str, str]:
        if kind == "model":
            loaded = load_model(path)
            identical = same(loaded.model.state_dict(), self.model.model.state_dict()) and same(
                loaded.meta.to_dict(), self.model.meta.to_dict())
            if not identical:
                loaded.predict_proba(self.probe)  # a re-signed file must still be usable
        else:
            state = read_checkpoint(path).state
            identical = same(state, self.checkpoint)
            if not identical:
                self._resume(path)  # a re-signed checkpoint must also restore a trainer
        if identical:
            return "identical", ""
        return ("changed", "loaded with other content") if must_match else ("loaded", "")


def self_test(what: str) -> dict:
    """Misbehave on purpose, so the suite can prove it notices crashes, hangs and memory."""
    if what == "crash":
        os.abort()
    if what == "hang":
        time.sleep(3600)
    try:
        blob = np.ones(300 * 1024 * 1024 // 8)
        return {"family": "self-test", "outcome": "allocated", "detail": str(blob.size),
                "seconds": 0.0}
    except MemoryError:
        return {"family": "self-test", "outcome": "memory", "detail": "", "seconds": 0.0}


def fuzz_dataset():
    """The data the fuzzed checkpoint was made on (its fingerprint must match to resume)."""
    from tests.engine.training_toys import toy_dataset

    return toy_dataset(n_train=64, n_test=16)


def main(argv: list[str]) -> int:
    worker = Worker(Path(argv[0]), Path(argv[1]), int(argv[2]))
    limit = _address_space() + MEMORY_HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for line in sys.stdin:
        request = json.loads(line)
        if request["kind"] == "self-test":
            result = self_test(request["source"])
        else:
            result = worker.run(request["kind"], request["source"], request["case"])
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
