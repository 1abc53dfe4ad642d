"""`python main.py datasets`: which datasets are on disk, where, how big, how to get the rest."""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from engine import data
from engine.data.paths import DATA_ENV, is_writable_dir, resolve_data_dir


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "datasets",
        help="list the datasets, where they are and how to get missing ones",
        description="List every dataset: found or not, where, its size, and for a missing one "
        "exactly what to do. Optionally download one or load one (decoding and caching it).",
    )
    parser.add_argument("--data-dir", help=f"folder holding the datasets (default: ${DATA_ENV} "
                        "or the per-user folder)")
    parser.add_argument("--cache-dir", help="writable folder for decoded arrays (default: "
                        "$CNN_STUDIO_CACHE or the per-user cache)")
    parser.add_argument("--download", metavar="NAME",
                        choices=("mnist", "fashion-mnist", "cifar10"),
                        help="download NAME (mnist, fashion-mnist, cifar10) into the data folder")
    parser.add_argument("--load", metavar="NAME_OR_PATH",
                        help="load a dataset (decoding and caching it) and print its shape")
    parser.set_defaults(func=run)


class _ProgressLine:
    """A single updating progress line on stderr."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, done: int, total: int, message: str) -> None:
        now = time.monotonic()
        if now - self.last < 0.2 and done != total:
            return
        self.last = now
        text = f"{message}: {100 * done / total:5.1f}% ({done}/{total})" if total > 0 else message
        print(f"\r{text:<78}", end="", file=sys.stderr, flush=True)

    def finish(self) -> None:
        if self.last:
            print(file=sys.stderr)


def _where(data_dir: str | None) -> str:
    if data_dir:
        return "--data-dir"
    return f"${DATA_ENV}" if os.environ.get(DATA_ENV) else "per-user default"


def run(args: argparse.Namespace) -> int:
    if args.download:
        line = _ProgressLine()
        try:
            folder = data.download_dataset(args.download, args.data_dir, line)
        finally:
            line.finish()
        print(f"{args.download}: downloaded into {folder}")
    if args.load:
        line = _ProgressLine()
        start = time.perf_counter()
        try:
            ds = data.load(args.load, args.data_dir, args.cache_dir, line)
            # The cache is memory-mapped: count reading every pixel once, the honest cost.
            ds.x_train.sum(dtype=np.uint64) + ds.x_test.sum(dtype=np.uint64)
        finally:
            line.finish()
        seconds = time.perf_counter() - start
        origin = "from cache" if ds.from_cache else "decoded"
        print(f"{ds.name}: {len(ds.y_train)} train + {len(ds.y_test)} test, input "
              f"{'x'.join(map(str, ds.input_shape))}, {ds.num_classes} classes ({ds.kind}), "
              f"{origin} in {seconds:.3f} s; source {ds.source}")
        if ds.notes:
            print(f"  note: {ds.notes}")
        return 0
    root = resolve_data_dir(args.data_dir)
    access = "" if is_writable_dir(root) else " (read-only: downloads go to the per-user folder)"
    print(f"data directory: {root} [{_where(args.data_dir)}]{access}")
    print(f"cache directory: {data.default_cache_dir(args.cache_dir)}")
    print()
    statuses = data.list_datasets(args.data_dir, args.cache_dir)
    width = max(len(s.name) for s in statuses)
    for status in statuses:
        if status.found:
            cached = "cached" if status.cached else "      "
            print(f"{status.name:<{width}}  found  {cached}  {status.size_text:>9}  "
                  f"{status.format:<13} {status.path}")
        else:
            print(f"{status.name:<{width}}  MISSING  to get it, either:")
            for option in status.options:
                print(f"{'':<{width}}    - {option}")
    print("\nAny image folder (<root>/<class>/*.png|jpg, or with train/ and test/), as a "
          "directory or .zip,\nloads too: pass its path as the dataset.")
    return 0
