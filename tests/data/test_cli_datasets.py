"""`python main.py datasets`: listing, --load and --download through the subcommand's run()."""

from __future__ import annotations

import argparse
import hashlib

from cli import datasets as datasets_cli
from engine.data import fetch
from engine.data.fetch import RemoteFile
from tests.data.fixtures import write_mnist


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    datasets_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["datasets", *argv])
    return args.func(args)


def test_lists_found_and_missing_with_what_to_do(tmp_path, capsys):
    write_mnist(tmp_path / "mnist")
    assert run("--data-dir", str(tmp_path)) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line[:1].isalpha()}
    assert "found" in lines["mnist"] and str(tmp_path / "mnist") in lines["mnist"]
    assert "MISSING" in lines["cifar10"] and "cifar-10-python.tar.gz" in out
    assert "--download cifar10" in out and f"data directory: {tmp_path}" in out


def test_load_prints_counts_and_timing(tmp_path, capsys):
    write_mnist(tmp_path / "mnist")
    assert run("--data-dir", str(tmp_path), "--cache-dir", str(tmp_path / "c"),
               "--load", "mnist") == 0
    assert run("--data-dir", str(tmp_path), "--cache-dir", str(tmp_path / "c"),
               "--load", "mnist") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("mnist: 20 train + 10 test, input 28x28x1") and "decoded" in out[0]
    assert "from cache" in out[1]


def test_listing_shows_cached_datasets(tmp_path, capsys):
    write_mnist(tmp_path / "mnist")
    run("--data-dir", str(tmp_path), "--cache-dir", str(tmp_path / "c"), "--load", "mnist")
    capsys.readouterr()
    run("--data-dir", str(tmp_path), "--cache-dir", str(tmp_path / "c"))
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("mnist"))
    assert "found  cached" in line


def test_download_with_a_progress_line(tmp_path, capsys, monkeypatch):
    mirror = tmp_path / "mirror"
    write_mnist(mirror)
    files = tuple(RemoteFile(f.filename, ((mirror / f.filename).as_uri(),),
                             "sha256:" + hashlib.sha256((mirror / f.filename).read_bytes())
                             .hexdigest())
                  for f in fetch.REMOTE_FILES["mnist"][1])
    monkeypatch.setitem(fetch.REMOTE_FILES, "mnist", ("mnist", files))
    assert run("--data-dir", str(tmp_path / "d"), "--download", "mnist") == 0
    captured = capsys.readouterr()
    assert f"mnist: downloaded into {tmp_path / 'd' / 'mnist'}" in captured.out
    assert "downloading t10k-labels-idx1-ubyte.gz: 100.0%" in captured.err
