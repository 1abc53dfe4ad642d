"""Graphs written by hand with onnx.helper, laid out as PyTorch exports them (NCHW input,
NCHW flatten before the first dense layer), imported and checked against ONNX Runtime; and a
network exported by PyTorch itself, checked against PyTorch."""

from __future__ import annotations

import io

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from engine.onnx import import_onnx

ort = pytest.importorskip("onnxruntime")
RNG = np.random.default_rng(11)


def _weights(*shape: int, scale: float = 0.5) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def _model(nodes, inputs, output, initializers, opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "hand", inputs, [output], initializer=[
        numpy_helper.from_array(value, name) for name, value in initializers.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model, full_check=True)
    return model


def pytorch_style_graph() -> onnx.ModelProto:
    """NCHW [N, 3, 12, 10]: Sub/Div normalisation, Conv+BN+Relu, MaxPool, a bias-less strided
    Conv + Add, LeakyRelu, Reshape (N, -1) in C,H,W order, MatMul + Add, Sigmoid, a Mul by
    one number, Gemm with transB, Softmax."""
    init = {
        "mean": np.array([0.4, 0.5, 0.3], np.float32).reshape(1, 3, 1, 1),
        "std": np.array([0.2, 0.25, 0.3], np.float32).reshape(1, 3, 1, 1),
        "c1.W": _weights(6, 3, 3, 3), "c1.b": _weights(6),
        "bn.scale": _weights(6) + 1, "bn.B": _weights(6), "bn.mean": _weights(6),
        "bn.var": RNG.uniform(0.5, 2, 6).astype(np.float32),
        "c2.W": _weights(4, 6, 3, 3, scale=0.3), "c2.bias": _weights(1, 4, 1, 1),
        "fc1.W": _weights(36, 16, scale=0.3), "fc1.b": _weights(16),
        "fc2.W": _weights(5, 16), "fc2.b": _weights(5), "half": np.array(0.5, np.float32),
    }
    nodes = [
        helper.make_node("Sub", ["x", "mean"], ["s"]),
        helper.make_node("Div", ["s", "std"], ["n"]),
        helper.make_node("Conv", ["n", "c1.W", "c1.b"], ["c1"], pads=[1, 1, 1, 1],
                         kernel_shape=[3, 3]),
        helper.make_node("BatchNormalization", ["c1", "bn.scale", "bn.B", "bn.mean", "bn.var"],
                         ["bn"], epsilon=1e-3),
        helper.make_node("Relu", ["bn"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "c2.W"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Add", ["c2", "c2.bias"], ["c2b"]),
        helper.make_node("LeakyRelu", ["c2b"], ["l2"], alpha=0.1),
        helper.make_node("Constant", [], ["shape"],
                         value=numpy_helper.from_array(np.array([0, -1], np.int64))),
        helper.make_node("Reshape", ["l2", "shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "fc1.W"], ["mm"]),
        helper.make_node("Add", ["mm", "fc1.b"], ["fc1"]),
        helper.make_node("Sigmoid", ["fc1"], ["sg"]),
        helper.make_node("Mul", ["sg", "half"], ["sgh"]),
        helper.make_node("Gemm", ["sgh", "fc2.W", "fc2.b"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 12, 10])
    y = helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 5])
    return _model(nodes, [x], y, init)


def channels_last_graph() -> onnx.ModelProto:
    """NHWC [N, 10, 9, 1] (as Keras exports): Transpose to NCHW, Conv, Tanh, AveragePool,
    Transpose back, Flatten in H,W,C order, Gemm."""
    init = {"c.W": _weights(3, 1, 3, 3), "c.b": _weights(3), "fc.W": _weights(27, 4),
            "fc.b": _weights(4)}
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["t", "c.W", "c.b"], ["c"], auto_pad="SAME_UPPER"),
        helper.make_node("Tanh", ["c"], ["h"]),
        helper.make_node("AveragePool", ["h"], ["p"], kernel_shape=[3, 3], strides=[3, 3]),
        helper.make_node("Transpose", ["p"], ["back"], perm=[0, 2, 3, 1]),
        helper.make_node("Flatten", ["back"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc.W", "fc.b"], ["logits"]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 10, 9, 1])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 4])
    return _model(nodes, [x], y, init)


def global_pool_graph() -> onnx.ModelProto:
    """NCHW [N, 2, 7, 7]: Conv, Relu, GlobalAveragePool, Flatten, Gemm (opset 13)."""
    init = {"c.W": _weights(8, 2, 3, 3), "c.b": _weights(8), "fc.W": _weights(3, 8),
            "fc.b": _weights(3)}
    nodes = [
        helper.make_node("Conv", ["x", "c.W", "c.b"], ["c"]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["g"]),
        helper.make_node("Flatten", ["g"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "fc.W", "fc.b"], ["logits"], transB=1),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2, 7, 7])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 3])
    return _model(nodes, [x], y, init, opset=13)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("make,layout", [(pytorch_style_graph, "NCHW"),
                                         (channels_last_graph, "NHWC"),
                                         (global_pool_graph, "NCHW")],
                         ids=["pytorch style", "channels last", "global pool"])
def test_hand_written_graph_predicts_as_onnx_runtime(make, layout, tmp_path):
    proto = make()
    path = tmp_path / "hand.onnx"
    path.write_bytes(proto.SerializeToString())
    trained = import_onnx(path)
    h, w, c = trained.input_shape
    images = RNG.integers(0, 256, (300, h, w, c), dtype=np.uint8)
    feed = images.astype(np.float32) / 255
    if layout == "NCHW":
        feed = np.ascontiguousarray(feed.transpose(0, 3, 1, 2))
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    out = session.run(None, {"x": feed})[0]
    expected = out if proto.graph.node[-1].op_type == "Softmax" else _softmax(out)
    got = trained.predict_proba(images)
    np.testing.assert_array_equal(got.argmax(1), expected.argmax(1))
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    assert trained.class_names == [str(i) for i in range(expected.shape[1])]


def test_pytorch_style_graph_becomes_these_engine_layers(tmp_path):
    path = tmp_path / "hand.onnx"
    path.write_bytes(pytorch_style_graph().SerializeToString())
    trained = import_onnx(path)
    assert trained.input_shape == (12, 10, 3)
    assert trained.model.layer_types == ["conv2d", "batchnorm", "relu", "maxpool2d", "conv2d",
                                         "leaky_relu", "flatten", "dense", "sigmoid", "scale",
                                         "dense"]
    # the Sub/Div pair is the model's normalisation
    np.testing.assert_allclose(trained.normalizer.mean, [0.4, 0.5, 0.3], rtol=1e-6)
    np.testing.assert_allclose(trained.normalizer.std, [0.2, 0.25, 0.3], rtol=1e-6)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's TorchScript exporter
def test_a_network_exported_by_pytorch_predicts_as_pytorch(tmp_path):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, stride=2), nn.LeakyReLU(0.1), nn.AvgPool2d(2), nn.Flatten(),
        nn.Dropout(0.5), nn.Linear(16 * 3 * 3, 20), nn.Tanh(), nn.Linear(20, 5)).eval()
    with torch.no_grad():
        net[1].running_mean.uniform_(-1, 1)
        net[1].running_var.uniform_(0.5, 2)
    buffer = io.BytesIO()
    torch.onnx.export(net, torch.zeros(1, 3, 32, 32), buffer, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}},
                      opset_version=17, dynamo=False,
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    path = tmp_path / "torch.onnx"
    path.write_bytes(buffer.getvalue())
    trained = import_onnx(path)
    assert "batchnorm" in trained.model.layer_types  # kept as a layer, not folded away
    images = RNG.integers(0, 256, (200, 32, 32, 3), dtype=np.uint8)
    with torch.no_grad():
        x = torch.from_numpy(images.transpose(0, 3, 1, 2).astype(np.float32) / 255)
        expected = torch.softmax(net(x), dim=1).numpy()
    got = trained.predict_proba(images)
    np.testing.assert_array_equal(got.argmax(1), expected.argmax(1))
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
