"""Files that cannot be imported and networks that cannot be exported: one line that names the
file and the problem (the node, the layer), exit code 1 on the command line, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from cli import run_cli
from engine.layers.base import Layer
from engine.onnx import OnnxExportError, OnnxImportError, build_onnx, export_onnx, import_onnx
from engine.serialize import ModelFileError
from tests.onnx.helpers import ASSETS, trained_from_spec

ROOT = Path(__file__).resolve().parents[2]
SMALL = [{"type": "conv2d", "filters": 2, "kernel_size": 3}, {"type": "relu"},
         {"type": "flatten"}, {"type": "dense", "units": "num_classes"}]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "small.onnx"
    return export_onnx(trained_from_spec(SMALL, (6, 6, 1), num_classes=3), path)


def _graph_with(op: str, path: Path, opset: int = 17, **attributes) -> Path:
    """Conv -> ``op`` -> Flatten -> Gemm, NCHW: a valid graph whose second node is ``op``."""
    init = [numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "W"),
            numpy_helper.from_array(np.ones((8, 3), np.float32), "fc")]
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"]),
             helper.make_node(op, ["c"], ["a"], name="the_odd_one", **attributes),
             helper.make_node("Flatten", ["a"], ["f"]),
             helper.make_node("Gemm", ["f", "fc"], ["y"])]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], initializer=init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    path.write_bytes(model.SerializeToString())
    return path


def _one_line(message: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message
    assert "object at 0x" not in message and "<" not in message


def test_not_an_onnx_file(tmp_path):
    for name, content in (("notes.onnx", b"hello, this is text\n"),
                          ("model.pkl", (ASSETS / "mnist.pkl").read_bytes()[:4000]),
                          ("empty.onnx", b"")):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(OnnxImportError) as info:
            import_onnx(path)
        assert str(path) in str(info.value) and ("not an ONNX model" in str(info.value)
                                                 or "empty" in str(info.value))
        _one_line(str(info.value))


@pytest.mark.parametrize("fraction", [0.02, 0.3, 0.6, 0.97])
def test_a_truncated_file(exported, tmp_path, fraction):
    data = exported.read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[:int(len(data) * fraction)])
    with pytest.raises(OnnxImportError) as info:
        import_onnx(path)
    _one_line(str(info.value))


def test_an_unsupported_node_is_named(tmp_path):
    path = _graph_with("Erf", tmp_path / "erf.onnx")
    with pytest.raises(OnnxImportError) as info:
        import_onnx(path)
    message = str(info.value)
    assert "node 2 'the_odd_one' (Erf)" in message and "no Erf layer" in message
    _one_line(message)
    assert isinstance(info.value, ModelFileError)  # File -> Open catches it with the others


@pytest.mark.parametrize("op,attributes,words", [
    ("MaxPool", {"kernel_shape": [2, 2], "pads": [1, 1, 1, 1]}, "padded pooling"),
    ("Softmax", {"axis": 2}, "softmax over the channels"),
    ("Transpose", {"perm": [1, 0, 2, 3]}, "moves the batch axis"),
    ("Gelu", {"approximate": "none"}, "the engine's GELU is the tanh form"),
])
def test_a_supported_node_with_settings_the_engine_lacks_is_refused(tmp_path, op, attributes,
                                                                     words):
    with pytest.raises(OnnxImportError) as info:
        import_onnx(_graph_with(op, tmp_path / "odd.onnx", opset=20, **attributes))
    assert f"({op})" in str(info.value) and words in str(info.value)
    _one_line(str(info.value))


def test_a_branching_graph_is_refused(tmp_path):
    init = [numpy_helper.from_array(np.ones((1, 1, 1, 1), np.float32), "W")]
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"]),
             helper.make_node("Add", ["c", "x"], ["y"], name="residual")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 4, 4])], initializer=init)
    path = tmp_path / "residual.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    with pytest.raises(OnnxImportError) as info:
        import_onnx(path)
    assert "'residual' (Add)" in str(info.value) and "chain" in str(info.value)


def test_a_layer_without_an_onnx_form_is_named_on_export():
    class Mystery(Layer):
        def forward(self, x, training=True):
            return x

    trained = trained_from_spec(SMALL, (6, 6, 1), num_classes=3)
    trained.model.layers.insert(1, Mystery())
    trained.model.layer_names.insert(1, "mystery1")
    trained.model.spec = []  # a model built by hand: layer types are the class names
    with pytest.raises(OnnxExportError) as info:
        build_onnx(trained)
    assert "layer 2 (mystery1, mystery) cannot be exported to ONNX" in str(info.value)
    _one_line(str(info.value))


def test_damaged_bytes_are_refused_in_one_line_or_read_whole(exported, tmp_path):
    """Seeded mutations of a valid file (flipped bytes, cut-outs): each either imports or is
    refused with an OnnxImportError; nothing else escapes."""
    data = exported.read_bytes()
    rng = np.random.default_rng(0)
    outcomes = {"imported": 0, "refused": 0}
    for i in range(60):
        mutated = bytearray(data)
        if i % 2:
            for at in rng.integers(0, len(data), 4):
                mutated[at] = rng.integers(0, 256)
        else:
            start = int(rng.integers(0, len(data) - 1))
            del mutated[start:start + int(rng.integers(1, 64))]
        path = tmp_path / f"m{i}.onnx"
        path.write_bytes(bytes(mutated))
        try:
            import_onnx(path)
            outcomes["imported"] += 1
        except OnnxImportError as exc:
            _one_line(str(exc))
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0 and sum(outcomes.values()) == 60


@pytest.mark.parametrize("content,words", [(b"plain text", "not an ONNX model"),
                                           (None, "(Erf)")])
def test_command_line_import_errors_are_one_line_with_exit_code_1(tmp_path, content, words):
    path = tmp_path / "bad.onnx"
    if content is None:
        _graph_with("Erf", path)
    else:
        path.write_bytes(content)
    result = subprocess.run(
        [sys.executable, "main.py", "import", str(path), "--out", str(tmp_path / "m.pkl")],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0]
    assert "Traceback" not in result.stderr and not (tmp_path / "m.pkl").exists()


def test_command_line_export_of_a_missing_or_foreign_file(tmp_path, capsys):
    assert run_cli(["export", str(tmp_path / "nope.pkl"), "--onnx", str(tmp_path / "a.onnx")]) \
        == 1
    assert run_cli(["export", str(tmp_path / "nope.pkl"), "--onnx", "x.onnx"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)
    assert not (tmp_path / "a.onnx").exists()
