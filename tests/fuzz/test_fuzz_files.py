"""The fuzz suite: >= 1,000 mutated model files and >= 1,000 mutated checkpoints per run, plus
crafted hostile files; each loads identical (or, re-signed, loads usable) or is refused in one
line, within 1 s and 200 MB, never a crash, hang or traceback.

Cases run in worker subprocesses (a crash cannot hide in the test process), many per worker; a
worker that dies or stops answering is counted as a failure for its case and restarted.
``CNN_STUDIO_FUZZ_CASES`` changes the number of mutations per kind (default 1000).
"""

from __future__ import annotations

import collections
import json
import os
import select
import subprocess
import sys
from pathlib import Path

import pytest

from engine.serialize import save_model
from engine.training.checkpoint import checkpoint_path
from engine.training.run import TrainingConfig, train_model
from tests.engine.training_toys import TOY_SPEC
from tests.fuzz import summary
from tests.fuzz.crafted import crafted_cases
from tests.fuzz.worker import fuzz_dataset

ROOT = Path(__file__).resolve().parents[2]
SEED = 2026
CASES = int(os.environ.get("CNN_STUDIO_FUZZ_CASES", "1000"))
HANG_SECONDS = 10.0
FAILURES = ("changed", "traceback", "bad message", "slow", "memory", "crash", "hang")


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    config = TrainingConfig(dataset="toy", arch=TOY_SPEC, epochs=1, batch_size=32,
                            optimizer="adam", lr=0.01, checkpoint_every=0)
    trained = train_model(config, fuzz_dataset(), checkpoint_dir=folder / "ckpt")
    model = save_model(trained, folder / "model.pkl")
    return model, checkpoint_path(folder / "ckpt")


class WorkerPool:
    """One worker process at a time, restarted when it dies or hangs."""

    def __init__(self, model: Path, checkpoint: Path, hang_seconds: float = HANG_SECONDS
                 ) -> None:
        self.hang_seconds = hang_seconds
        self.args = [sys.executable, "-m", "tests.fuzz.worker", str(model), str(checkpoint),
                     str(SEED)]
        self.proc: subprocess.Popen | None = None
        self.restarts = 0

    def _start(self) -> None:
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                   CNN_STUDIO_THREADS="1")
        self.proc = subprocess.Popen(self.args, cwd=ROOT, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     bufsize=0)
        if self._read_line(60.0) != "ready":
            raise RuntimeError("the fuzz worker did not start")

    def _read_line(self, timeout: float) -> str | None:
        assert self.proc is not None and self.proc.stdout is not None
        line = b""
        while not line.endswith(b"\n"):
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
            if not ready:
                return None
            chunk = self.proc.stdout.read(1)
            if not chunk:
                return ""
            line += chunk
        return line.decode().strip()

    def _kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            self.restarts += 1

    def run(self, kind: str, source: str, case: int) -> dict:
        if self.proc is None:
            self._start()
        assert self.proc is not None and self.proc.stdin is not None
        request = json.dumps({"kind": kind, "source": source, "case": case}) + "\n"
        self.proc.stdin.write(request.encode())
        line = self._read_line(self.hang_seconds)
        if line:
            return json.loads(line)
        outcome = "hang" if line is None else "crash"
        code = self.proc.poll()
        self._kill()
        return {"family": "?", "outcome": outcome, "detail": f"worker exit {code}",
                "seconds": self.hang_seconds}

    def close(self) -> None:
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


def _run_all(pool: WorkerPool, kind: str, source: str, count: int) -> list[dict]:
    results = []
    for case in range(count):
        result = pool.run(kind, source, case)
        result.update(kind=kind, source=source, case=case)
        results.append(result)
    return results


def test_mutated_and_crafted_files_load_identical_or_are_refused(originals):
    model, checkpoint = originals
    from engine.plain_file import load_plain
    from engine.training.checkpoint import read_checkpoint

    crafted = crafted_cases(load_plain(model), read_checkpoint(checkpoint).state)
    pool = WorkerPool(model, checkpoint)
    results = []
    try:
        for kind in ("model", "checkpoint"):
            results += _run_all(pool, kind, "mutation", CASES)
            results += _run_all(pool, kind, "crafted", sum(c[1] == kind for c in crafted))
    finally:
        pool.close()
    summary.record(results, pool.restarts)
    failures = [r for r in results if r["outcome"] in FAILURES]
    counts = collections.Counter((r["kind"], r["source"], r["outcome"]) for r in results)
    assert sum(n for (k, s, _), n in counts.items() if k == "model" and s == "mutation") >= CASES
    assert not failures, "\n".join(
        f"{r['kind']} {r['source']} #{r['case']} ({r['family']}): {r['outcome']}: {r['detail']}"
        for r in failures[:20])
    crafted_refused = [r for r in results if r["source"] == "crafted"]
    assert all(r["outcome"] == "refused" for r in crafted_refused), [
        (r["family"], r["outcome"]) for r in crafted_refused if r["outcome"] != "refused"]


def test_the_harness_notices_crashes_hangs_and_memory_and_restarts_the_worker(originals):
    pool = WorkerPool(*originals, hang_seconds=2.0)
    try:
        assert pool.run("self-test", "crash", 0)["outcome"] == "crash"
        assert pool.run("self-test", "hang", 0)["outcome"] == "hang"
        assert pool.run("self-test", "memory", 0)["outcome"] == "memory"
        assert pool.run("model", "mutation", 0)["outcome"] in ("refused", "identical")
    finally:
        pool.close()
    assert pool.restarts == 2
