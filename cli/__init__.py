"""The command line: `python main.py <subcommand>`; each subcommand lives in its own module.

A subcommand module offers ``add_parser(subparsers)``, which registers its parser and sets
``func`` to a ``run(args) -> int`` function. Errors a user can cause are raised as
``ValueError``/``OSError`` (and their subclasses) and printed here as one clear line.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import warnings
from collections.abc import Iterator

SUBCOMMANDS = ("train", "evaluate", "predict", "archs", "datasets", "gradcheck", "explain",
               "export", "import_onnx")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python main.py",
        description="CNN Studio: train and inspect convolutional networks written in NumPy. "
        "Run without a subcommand to open the desktop app.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="<subcommand>")
    for name in SUBCOMMANDS:
        importlib.import_module(f"cli.{name}").add_parser(subparsers)
    return parser


@contextlib.contextmanager
def routed_warnings() -> Iterator[None]:
    """Python and NumPy warnings (RuntimeWarning: overflow ...) as our own one-line
    ``warning: ...`` messages on stderr, each text once, instead of file/line/source dumps."""
    shown: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = str(message).splitlines()[0] if str(message) else category.__name__
        if text not in shown:
            shown.add(text)
            print(f"warning: {text}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show
        yield


def run_cli(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with routed_warnings():
            return int(args.func(args) or 0)
    except BrokenPipeError:
        # The reader went away (`predict ... | head`): not an error worth a message.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
