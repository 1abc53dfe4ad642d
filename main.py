"""CNN Studio: with no argument, open the app; with a subcommand, do the same work headless."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        # Imported late so the command line never needs Qt.
        from gui.app import run_app

        return run_app()
    from cli import run_cli

    return run_cli(argv)


if __name__ == "__main__":
    sys.exit(main())
