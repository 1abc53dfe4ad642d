"""`python main.py evaluate`: accuracy, per-class table, confusion matrix, PNG and JSON."""

from __future__ import annotations

import json

import pytest

from cli import run_cli
from engine.serialize import save_model
from engine.training.run import TrainingConfig, train_model
from tests.engine.training_toys import TOY_SPEC, toy_dataset


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    config = TrainingConfig(dataset="toy", arch=TOY_SPEC, epochs=2, batch_size=16, lr=0.05)
    trained = train_model(config, toy_dataset())
    return save_model(trained, tmp_path_factory.mktemp("model") / "toy.pkl"), trained


def test_evaluate_prints_the_table_and_writes_png_and_json(toy_data, model_file, tmp_path,
                                                           capsys):
    path, trained = model_file
    png, js = tmp_path / "cm.png", tmp_path / "out" / "result.json"
    assert run_cli(["evaluate", str(path), "--dataset", "toy", "--confusion-png", str(png),
                    "--json", str(js)]) == 0
    out = capsys.readouterr().out
    accuracy = trained.meta["metrics"]["test_accuracy"]
    assert f"accuracy: {accuracy * 100:.2f} % on 45 images" in out
    assert "precision" in out and "recall" in out and "confusion matrix" in out
    for name in ("top", "middle", "bottom"):
        assert name in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = json.loads(js.read_text())
    assert result["accuracy"] == accuracy
    assert result["confusion_matrix"] == trained.meta["metrics"]["confusion_matrix"]
    assert [row["class"] for row in result["per_class"]] == ["top", "middle", "bottom"]


def test_the_training_dataset_is_the_default_and_train_split_works(toy_data, model_file, capsys):
    path, _ = model_file
    assert run_cli(["evaluate", str(path), "--split", "train"]) == 0
    assert "on 120 images" in capsys.readouterr().out


def test_a_dataset_of_another_shape_is_a_clear_error(toy_data, model_file, capsys):
    path, _ = model_file
    assert run_cli(["evaluate", str(path), "--dataset", "toy-rgb"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: this model was trained on 8x8x1 images in 3 classes, but "
                          "toy-rgb has 8x8x3 images")


def test_a_missing_model_is_a_clear_error(capsys, tmp_path):
    assert run_cli(["evaluate", str(tmp_path / "nope.pkl")]) == 1
    assert "error: no such file" in capsys.readouterr().err


def test_plot_labels_avoid_scripts_the_default_font_lacks():
    from cli.evaluate import plot_labels

    assert plot_labels(["cat", "dog"]) == ["cat", "dog"]
    assert plot_labels(["০ (0)", "১ (1)"], ["0", "1"]) == ["0", "1"]
    assert plot_labels(["০ (0)", "১"]) == ["0", "1"]


def test_a_dataset_with_other_class_names_warns_and_shows_both_lists(toy_data, model_file,
                                                                    tmp_path, capsys,
                                                                    monkeypatch):
    from tests.cli.conftest import TOY_DATASETS

    def renamed():
        dataset = toy_dataset()
        dataset.class_names = ["০", "১", "২"]
        dataset.name = "toy-bengali"
        return dataset

    monkeypatch.setitem(TOY_DATASETS, "toy-bengali", renamed)
    path, _ = model_file
    js = tmp_path / "r.json"
    assert run_cli(["evaluate", str(path), "--dataset", "toy-bengali", "--json", str(js)]) == 0
    err = capsys.readouterr().err
    assert err == ("warning: toy-bengali names its classes differently from the model, so "
                   "class numbers are compared: model: top, middle, bottom; toy-bengali: "
                   "০, ১, ২\n")
    assert json.loads(js.read_text())["dataset_class_names"] == ["০", "১", "২"]
    assert run_cli(["evaluate", str(path), "--dataset", "toy"]) == 0
    assert capsys.readouterr().err == ""  # same names: no warning
