"""`python main.py predict`: files and folders, app preprocessing, CSV, labels, top-k."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from cli import run_cli
from engine.data.images import read_image
from engine.data.preprocess import image_to_input
from engine.serialize import save_model
from engine.training.run import TrainingConfig, train_model
from tests.engine.training_toys import TOY_SPEC, toy_dataset

NUMTADB_HEADER = ["filename", "original filename", "scanid", "digit", "database name original",
                  "contributing team", "database name"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A colour toy model and its 45 test images as PNG files in two folders."""
    root = tmp_path_factory.mktemp("predict")
    dataset = toy_dataset(shape=(8, 8, 3), kind="colour", name="toy-rgb")
    config = TrainingConfig(dataset="toy-rgb", arch=TOY_SPEC, epochs=2, batch_size=16, lr=0.05)
    model_path = save_model(train_model(config, dataset), root / "model.pkl")
    images = root / "images"
    for i, image in enumerate(dataset.x_test):
        folder = images / ("a" if i < 20 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"img{i:03d}.png")
    (images / "notes.txt").write_text("not an image")
    return model_path, images, dataset


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_folders_are_searched_and_preprocessed_as_in_the_app(setup, tmp_path, capsys):
    model_path, images, _ = setup
    out_csv = tmp_path / "pred.csv"
    assert run_cli(["predict", str(model_path), str(images), "--csv", str(out_csv),
                    "--top-k", "2"]) == 0
    assert "45 predictions written" in capsys.readouterr().out
    rows = read_rows(out_csv)
    assert rows[0] == ["filename", "prediction", "confidence", "prediction_2", "confidence_2"]
    assert len(rows) == 46
    from engine.serialize import load_model

    trained = load_model(model_path)
    first = images / "a" / "img000.png"
    x = image_to_input(read_image(first), trained.input_shape, trained.kind)[None]
    probs = trained.predict_proba(x)[0]
    row = next(r for r in rows if r[0] == str(first))
    assert row[1] == trained.class_names[int(np.argmax(probs))]
    assert float(row[2]) == pytest.approx(float(probs.max()), abs=1e-4)
    assert float(row[2]) >= float(row[4])


def test_numtadb_labels_give_accuracy_and_confusion_matrix(setup, tmp_path, capsys):
    model_path, images, dataset = setup
    labels = tmp_path / "testing-a.csv"
    with open(labels, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(NUMTADB_HEADER)
        for i, y in enumerate(dataset.y_test[:30]):  # 15 images stay unlabelled
            writer.writerow([f"img{i:03d}.png", f"orig{i}.jpg", "1", int(y), "BHDDB", "x", "a"])
    assert run_cli(["predict", str(model_path), str(images / "a"), str(images / "b"),
                    "--labels", str(labels)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("filename,prediction,confidence,label,correct\n")
    lines = [line.split(",") for line in out.splitlines()[1:46]]
    correct = sum(int(parts[4]) for parts in lines if parts[4])
    assert "15 of 45 images have no label" in out
    assert f"accuracy: {correct / 30 * 100:.2f} % on 30 images" in out
    assert "confusion matrix" in out


def test_plain_filename_label_rows_with_class_names(setup, tmp_path, capsys):
    model_path, images, dataset = setup
    labels = tmp_path / "labels.csv"
    names = ["top", "middle", "bottom"]
    labels.write_text("".join(f"img{i:03d}.png,{names[y]}\n"
                              for i, y in enumerate(dataset.y_test)))
    assert run_cli(["predict", str(model_path), str(images / "a" / "img001.png"),
                    "--labels", str(labels)]) == 0
    assert "on 1 images" in capsys.readouterr().out


@pytest.mark.parametrize(("content", "message"), [
    ("filename,colour\nimg000.png,red\n", "no 'digit' or 'label' column"),
    ("img000.png,purple\n", "line 1: label \"purple\" is neither a class name"),
    ("img000.png,7\n", "class number 0..2"),
])
def test_bad_labels_are_clear_errors(setup, tmp_path, capsys, content, message):
    model_path, images, _ = setup
    labels = tmp_path / "labels.csv"
    labels.write_text(content)
    assert run_cli(["predict", str(model_path), str(images), "--labels", str(labels)]) == 1
    assert message in capsys.readouterr().err


def test_missing_paths_and_empty_folders(setup, tmp_path, capsys):
    model_path, _, _ = setup
    assert run_cli(["predict", str(model_path), str(tmp_path / "nothing.png")]) == 1
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert run_cli(["predict", str(model_path), str(tmp_path / "empty")]) == 1
    assert "no images found" in capsys.readouterr().err


def test_any_file_name_is_valid_csv_and_missing_or_broken_paths_are_skipped(setup, tmp_path,
                                                                          capsys):
    import os

    model_path, images, _ = setup
    odd = tmp_path / "odd"
    odd.mkdir()
    source = next((images / "a").iterdir()).read_bytes()
    names = ["comma, here.png", "new\nline.png", 'quote".png']
    for name in names:
        (odd / name).write_bytes(source)
    raw_name = os.fsdecode(b"latin1-\xe9.png")  # not UTF-8: a name from another system
    (odd / raw_name).write_bytes(source)
    (odd / "broken.png").write_bytes(b"\x89PNG not really")
    code = run_cli(["predict", str(model_path), str(odd), str(tmp_path / "missing.png")])
    captured = capsys.readouterr()
    assert code == 1  # something failed, reported at the end, after the rest was predicted
    rows = list(csv.reader(captured.out.splitlines(keepends=True)))
    shown = {os.path.basename(row[0]) for row in rows[1:]}
    assert shown == {*names, "latin1-\\xe9.png"}
    err = captured.err.splitlines()
    broken = next(line for line in err if "broken.png" in line)
    # One line a user can read: the name once, the problem, no object reprs.
    assert broken.startswith("skipped ") and broken.count("broken.png") == 1
    assert "not a readable image" in broken and " at 0x" not in broken
    assert any("missing.png: no such file or folder" in line for line in err)
    assert err[-1] == "error: 2 of 6 paths could not be predicted (see the lines above)"
    assert run_cli(["predict", str(model_path), str(odd), "--csv",
                    str(tmp_path / "out.csv")]) == 1
    assert {os.path.basename(r[0]) for r in read_rows(tmp_path / "out.csv")[1:]} == shown
