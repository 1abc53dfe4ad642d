"""The fuzz figures, kept for the end-of-run summary that tests/fuzz/conftest.py prints."""

from __future__ import annotations

import collections

LINES: list[str] = []


def record(results: list[dict], restarts: int) -> None:
    """Turn the per-case results into the lines printed after the test run."""
    LINES.clear()
    for kind in ("model", "checkpoint"):
        for source in ("mutation", "crafted"):
            mine = [r for r in results if r["kind"] == kind and r["source"] == source]
            if not mine:
                continue
            outcomes = collections.Counter(r["outcome"] for r in mine)
            slowest = max(r["seconds"] for r in mine)
            parts = ", ".join(f"{name} {n}" for name, n in sorted(outcomes.items()))
            LINES.append(f"fuzz {kind} {source}: {len(mine)} cases: {parts}; slowest "
                         f"{slowest * 1000:.0f} ms")
            if source == "crafted":
                families = collections.Counter(r["family"] for r in mine)
                LINES.append("  families: " + ", ".join(
                    f"{name} {n}" for name, n in sorted(families.items())))
            else:
                families = collections.Counter((r["family"], r["outcome"]) for r in mine)
                LINES.append("  by mutation: " + ", ".join(
                    f"{f}/{o} {n}" for (f, o), n in sorted(families.items())))
    LINES.append(f"fuzz worker restarts: {restarts}")
