"""`python main.py explain`: the picture, the raw map, the class and layer choices, and
one-line errors."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cli import run_cli
from engine.data.images import read_image
from engine.data.preprocess import image_to_input
from engine.explain import (
    OodCalibration,
    encode_png,
    grad_cam,
    heat_overlay,
    occlusion,
    store_ood_calibration,
)
from engine.serialize import load_model, save_model
from tests.conftest import ROOT

MNIST_MODEL = ROOT / "assets" / "mnist.pkl"


@pytest.fixture(scope="module")
def seven(tmp_path_factory):
    """A drawn 7: dark ink on white paper, as a user would photograph or draw it."""
    path = tmp_path_factory.mktemp("explain") / "seven.png"
    image = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(image).line([(60, 40), (140, 40), (90, 170)], fill=0, width=14)
    image.save(path)
    return path


def network_input(path):
    trained = load_model(MNIST_MODEL)
    pixels = image_to_input(read_image(path), trained.input_shape, trained.kind)
    return trained, pixels, trained.normalize(pixels[None])[0]


def test_gradcam_png_and_npy_are_the_engine_map_over_the_input(seven, tmp_path, capsys):
    png, npy = tmp_path / "out" / "heat.png", tmp_path / "heat.npy"
    assert run_cli(["explain", str(MNIST_MODEL), str(seven), "--out", str(png),
                    "--npy", str(npy)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("predicted 7 (")
    assert "explained 7 with gradcam at layer conv2" in printed
    trained, pixels, x = network_input(seven)
    expected = grad_cam(trained.model, x)
    raw = np.load(npy)
    assert raw.dtype == np.float32 and raw.shape == (28, 28)
    np.testing.assert_array_equal(raw, expected.values)
    picture = np.asarray(Image.open(png).convert("RGB"))
    np.testing.assert_array_equal(picture, heat_overlay(pixels, expected.normalized(), scale=8))
    assert not list(png.parent.glob(".*tmp"))  # the atomic write left no temporary file


def test_class_by_name_or_number_and_occlusion(seven, tmp_path, capsys):
    npy = tmp_path / "o.npy"
    assert run_cli(["explain", str(MNIST_MODEL), str(seven), "--method", "occlusion",
                    "--class", "1", "--out", str(tmp_path / "o.png"), "--npy", str(npy)]) == 0
    assert "explained 1 with occlusion" in capsys.readouterr().out
    trained, _, x = network_input(seven)
    np.testing.assert_array_equal(np.load(npy), occlusion(trained.model, x, 1, 7, 3).values)


def test_gradient_and_layer_choice(seven, tmp_path, capsys):
    assert run_cli(["explain", str(MNIST_MODEL), str(seven), "--layer", "relu2",
                    "--out", str(tmp_path / "g.png")]) == 0
    assert "at layer relu2" in capsys.readouterr().out
    assert run_cli(["explain", str(MNIST_MODEL), str(seven), "--method", "gradient",
                    "--smooth", "4", "--out", str(tmp_path / "s.png")]) == 0
    assert "with smoothgrad" in capsys.readouterr().out


def test_the_familiarity_verdict_is_printed_when_the_model_is_calibrated(seven, tmp_path,
                                                                          capsys):
    trained = load_model(MNIST_MODEL)
    for threshold, verdict in ((-1e9, "like the training data"), (1e9, "UNLIKE")):
        store_ood_calibration(trained.meta, OodCalibration("energy", threshold, 0.95, 10))
        model = save_model(trained, tmp_path / "calibrated.pkl")
        assert run_cli(["explain", str(model), str(seven), "--out", str(tmp_path / "c.png")]) == 0
        line = capsys.readouterr().out.splitlines()[1]
        assert line.startswith("familiarity ") and verdict in line


def test_a_damaged_calibration_still_gives_the_map(seven, tmp_path, capsys):
    trained = load_model(MNIST_MODEL)
    trained.meta["ood"] = {"score": "energy", "threshold": "high"}
    model = save_model(trained, tmp_path / "damaged.pkl")
    png = tmp_path / "d.png"
    assert run_cli(["explain", str(model), str(seven), "--out", str(png)]) == 0
    printed = capsys.readouterr().out
    assert "note: the model file's out-of-distribution calibration is damaged; no verdict" in (
        printed)
    assert png.is_file()


def test_a_colour_model_explains_a_photo(tmp_path, capsys):
    photo = tmp_path / "photo.jpg"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (48, 64, 3)).astype(np.uint8)).save(photo)
    npy = tmp_path / "p.npy"
    assert run_cli(["explain", str(ROOT / "assets" / "cifar10.pkl"), str(photo), "--method",
                    "gradient", "--class", "ship", "--out", str(tmp_path / "p.png"),
                    "--npy", str(npy)]) == 0
    assert "explained ship with gradient" in capsys.readouterr().out
    assert np.load(npy).shape == (32, 32)
    assert np.asarray(Image.open(tmp_path / "p.png")).shape == (256, 256, 3)


@pytest.mark.parametrize("args, message", [
    (["{model}", "{missing}"], "cannot read file"),
    (["{model}", "{text}"], "not a readable image"),
    (["{missing}", "{seven}"], "no such file"),
    (["{model}", "{seven}", "--class", "eleven"], "--class 'eleven' is neither a class name"),
    (["{model}", "{seven}", "--layer", "dense9"], "no layer named 'dense9'"),
    (["{model}", "{seven}", "--layer", "dense1"], "Grad-CAM needs a layer with a spatial map"),
    (["{model}", "{seven}", "--method", "gradient", "--layer", "conv1"],
     "a layer can only be chosen for Grad-CAM"),
    (["{model}", "{seven}", "--smooth", "-2", "--method", "gradient"], "smooth must be"),
])
def test_bad_input_gives_one_line_and_writes_nothing(seven, tmp_path, capsys, args, message):
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    names = {"model": MNIST_MODEL, "missing": tmp_path / "missing.png", "text": text,
             "seven": seven}
    out = tmp_path / "heat.png"
    argv = ["explain", *(a.format(**names) for a in args), "--out", str(out)]
    assert run_cli(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err and not out.exists()


def test_out_must_be_png_and_npy_must_be_npy(seven, tmp_path, capsys):
    assert run_cli(["explain", str(MNIST_MODEL), str(seven), "--out",
                    str(tmp_path / "h.jpg")]) == 1
    assert "--out must name a .png file" in capsys.readouterr().err
    assert run_cli(["explain", str(MNIST_MODEL), str(seven), "--out", str(tmp_path / "h.png"),
                    "--npy", str(tmp_path / "h.txt")]) == 1
    assert "--npy must name a .npy file" in capsys.readouterr().err


def test_main_py_runs_explain_without_a_traceback(seven, tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "explain", str(MNIST_MODEL),
                           str(seven), "--class", "99", "--out", str(tmp_path / "h.png")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith("error: --class '99'") and "Traceback" not in done.stderr


def test_encode_png_round_trips_through_pillow():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3)).astype(np.uint8)
    decoded = np.asarray(Image.open(io.BytesIO(encode_png(rgb))))
    np.testing.assert_array_equal(decoded, rgb)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        encode_png(rgb.astype(np.float32))


def test_heat_overlay_blends_and_scales():
    grey = np.full((2, 3, 1), 100, np.uint8)
    heat = np.array([[0.0, 0.5, 1.0], [1.0, 0.5, 0.0]])
    np.testing.assert_array_equal(heat_overlay(grey, heat, alpha=0.0), np.full((2, 3, 3), 100))
    full = heat_overlay(grey, heat, alpha=1.0)
    assert tuple(full[0, 0]) == (0, 0, 110) and tuple(full[0, 2]) == (170, 0, 0)
    big = heat_overlay(grey, heat, scale=4)
    assert big.shape == (8, 12, 3)
    np.testing.assert_array_equal(big[4:8, 8:12], np.broadcast_to(big[4, 8], (4, 4, 3)))
