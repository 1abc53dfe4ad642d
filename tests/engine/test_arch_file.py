"""Architecture files: what `train --arch FILE` and the app's Open / Save architecture read and
write."""

from __future__ import annotations

import json

import pytest

from engine import build_model, load_preset
from engine.arch_file import MAX_BYTES, ArchFile, read_arch_file, write_arch_file


def test_a_written_file_reads_back_and_builds(tmp_path):
    layers = load_preset("airbench94")["layers"]
    path = write_arch_file(tmp_path / "mine.json",
                           ArchFile(layers=layers, name="mine", note="a copy of airbench94"))
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == {"name": "mine", "note": "a copy of airbench94", "layers": layers}
    assert len(text.splitlines()) == len(layers) + 6  # one layer per line, as in models/
    back = read_arch_file(path)
    assert (back.layers, back.name, back.note) == (layers, "mine", "a copy of airbench94")
    assert build_model(back.layers, (32, 32, 3), 10).num_params() == 1_971_640


def test_an_empty_network_is_not_written(tmp_path):
    with pytest.raises(ValueError, match="no layers"):
        write_arch_file(tmp_path / "empty.json", ArchFile(layers=[]))
    assert not (tmp_path / "empty.json").exists()


def test_a_bare_layer_list_is_named_after_its_file(tmp_path):
    path = tmp_path / "tiny-net.json"
    path.write_text(json.dumps([{"type": "flatten"}, {"type": "dense", "units": 3}]))
    arch = read_arch_file(path)
    assert arch.name == "tiny-net" and arch.note == "" and len(arch.layers) == 2


@pytest.mark.parametrize("content, message", [
    (b"not json", "not valid JSON (line 1, column 1: expecting value)"),
    (b'{"name": "x"}', "holds no layer list"),
    (b"[]", "holds no layer list"),
    (b'[{"type": "flatten"}, 3]', "layer 2 is not"),
    (b'[{"type": "teleport"}]', "layer 1 (teleport): unknown layer type"),
    (b'[{"type": "conv2d", "filters": 0}]', "layer 1 (conv2d)"),
    (b'[{"type": "relu", "alpha": 2}]', "unknown key 'alpha'"),
    (b"\xff\xfe\x00garbage", "not a text file"),
    (b"[" * 100_000, "nests too deeply"),
])
def test_what_is_no_architecture_is_refused_in_one_line(tmp_path, content, message):
    path = tmp_path / "net.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        read_arch_file(path)
    assert "\n" not in str(info.value) and "Traceback" not in str(info.value)


def test_missing_folder_and_huge_files_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such architecture file"):
        read_arch_file(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="is a folder"):
        read_arch_file(tmp_path)
    huge = tmp_path / "huge.json"
    huge.write_bytes(b" " * (MAX_BYTES + 1))
    with pytest.raises(ValueError, match="too large"):
        read_arch_file(huge)
