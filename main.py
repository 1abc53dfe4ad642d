"""CNN Studio: with no argument, open the app; with a model file, open the app with that model;
with a subcommand, do the same work headless."""

from __future__ import annotations

import sys
from pathlib import Path

MODEL_SUFFIXES = (".pkl", ".npz", ".onnx")  # what File ▸ Open takes


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or (len(argv) == 1 and Path(argv[0]).suffix.lower() in MODEL_SUFFIXES):
        # Imported late so the command line never needs Qt.
        from gui.app import run_app

        return run_app(argv[0] if argv else None)
    from cli import run_cli

    return run_cli(argv)


if __name__ == "__main__":
    sys.exit(main())
