"""NumtaDB: the Kaggle layout (CSV + raw scans) and the 28x28 arrays release."""

from __future__ import annotations

import numpy as np
import pytest

from engine import data
from engine.data import numtadb
from engine.data.errors import DatasetError
from engine.data.preprocess import digit_to_mnist
from tests.data.fixtures import write_numta_arrays, write_numta_kaggle, write_zip

KAGGLE = {"training-a": 10, "training-b": 10, "testing-a": 5}


def test_kaggle_layout_with_labelled_test_folders(tmp_path):
    labels = write_numta_kaggle(tmp_path / "numtadb", KAGGLE)
    ds = data.load("numtadb", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert ds.x_train.shape == (20, 28, 28, 1) and ds.x_test.shape == (5, 28, 28, 1)
    assert ds.y_train.tolist() == labels["training-a"] + labels["training-b"]
    assert ds.class_names[3] == "৩ (3)" and ds.ascii_names[3] == "3"
    # scans are dark ink on light paper: they come out light-on-dark, digit-sized
    assert ds.x_train[:, 0, :, 0].max() == 0 and ds.x_train.max() > 200
    assert ds.kind == "digits"


def test_unlabelled_test_folders_mean_a_held_out_split(tmp_path):
    write_numta_kaggle(tmp_path / "numtadb", KAGGLE, label_test=False)
    ds = data.load("numtadb", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert len(ds.y_train) + len(ds.y_test) == 20 and len(ds.y_test) == 4
    assert "testing-a" in ds.notes and "held out" in ds.notes


def test_csv_without_the_digit_column(tmp_path):
    write_numta_kaggle(tmp_path / "numtadb", {"training-a": 3})
    csv_path = tmp_path / "numtadb" / "training-a.csv"
    lines = csv_path.read_text().splitlines()
    csv_path.write_text("\n".join(",".join(line.split(",")[:3]) for line in lines) + "\n")
    with pytest.raises(DatasetError, match=r"training-a.csv: missing column\(s\) digit"):
        data.load("numtadb", data_dir=tmp_path, cache_dir=tmp_path / "cache")


def test_csv_naming_a_missing_file(tmp_path):
    write_numta_kaggle(tmp_path / "numtadb", {"training-a": 3})
    (tmp_path / "numtadb" / "training-a" / "a00001.png").unlink()
    with pytest.raises(DatasetError, match=r"training-a.csv: names a00001.png, not found"):
        data.load("numtadb", data_dir=tmp_path, cache_dir=tmp_path / "cache")


def test_training_folder_without_csv(tmp_path):
    write_numta_kaggle(tmp_path / "numtadb", {"training-a": 2, "training-b": 2})
    (tmp_path / "numtadb" / "training-b.csv").unlink()
    with pytest.raises(DatasetError, match=r"training-b: no training-b.csv"):
        data.load("numtadb", data_dir=tmp_path, cache_dir=tmp_path / "cache")


def test_unreadable_scan(tmp_path):
    write_numta_kaggle(tmp_path / "numtadb", {"training-a": 3})
    (tmp_path / "numtadb" / "training-a" / "a00002.png").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match=r"a00002.png: not a readable image"):
        data.load("numtadb", data_dir=tmp_path, cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("zipped", [True, False])
def test_arrays_release_scaled_and_split(tmp_path, zipped):
    x, _ = write_numta_arrays(tmp_path / "numtadb", n=50, zipped=zipped)
    ds = data.load("numtadb", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert len(ds.y_train) == 40 and len(ds.y_test) == 10
    assert np.bincount(ds.y_test).tolist() == [1] * 10
    assert ds.x_train.max() == 255 and ds.x_train.dtype == np.uint8
    # the split is deterministic and the pixels are x * 255 / 20, digit-preprocessed like scans
    again = numtadb.read_arrays(*data.locate("numtadb", tmp_path).files)
    np.testing.assert_array_equal(again.y_test, ds.y_test)
    scaled = np.rint(x.astype(np.float32) * 255 / 20).astype(np.uint8)
    expected = [digit_to_mnist(img) for img in scaled]
    rows = {tuple(img.ravel()) for img in expected}
    assert all(tuple(img.ravel()) in rows for img in ds.x_test)


def test_arrays_count_mismatch(tmp_path):
    write_numta_arrays(tmp_path / "numtadb", n=20)
    write_numta_arrays(tmp_path / "other", n=10)
    (tmp_path / "other" / "numtaY_train.zip").replace(tmp_path / "numtadb" / "numtaY_train.zip")
    with pytest.raises(DatasetError, match=r"numtaX_train.zip holds 20 images but .* 10 labels"):
        data.load("numtadb", data_dir=tmp_path, cache_dir=tmp_path / "cache")


def test_kaggle_layout_unpacked_one_level_down(tmp_path):
    write_numta_kaggle(tmp_path / "numtadb" / "numta", {"training-a": 10})
    found = data.locate("numtadb", tmp_path)
    assert found.format == "numta-kaggle" and found.path == tmp_path / "numtadb" / "numta"
    ds = data.load("numtadb", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert len(ds.y_train) == 8 and len(ds.y_test) == 2


def test_csv_columns_match_ignoring_case_and_spaces(tmp_path):
    write_numta_kaggle(tmp_path / "numtadb", {"training-a": 10})
    csv_path = tmp_path / "numtadb" / "training-a.csv"
    lines = csv_path.read_text().splitlines()
    lines[0] = lines[0].replace("filename,", " Filename ,", 1).replace(",digit,", ", Digit,")
    csv_path.write_text("\n".join(lines) + "\n")
    ds = data.load("numtadb", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert len(ds.y_train) + len(ds.y_test) == 10


def test_csv_with_a_bad_digit(tmp_path):
    write_numta_kaggle(tmp_path / "numtadb", {"training-a": 3})
    csv_path = tmp_path / "numtadb" / "training-a.csv"
    csv_path.write_text(csv_path.read_text().replace(",2,BHDDB", ",12,BHDDB"))
    with pytest.raises(DatasetError, match=r"training-a.csv: line 4 has digit 12, not 0\.\.9"):
        data.load("numtadb", data_dir=tmp_path, cache_dir=tmp_path / "cache")


def test_the_kaggle_zip_as_downloaded(tmp_path):
    labels = write_numta_kaggle(tmp_path / "unpacked", KAGGLE)
    files = {f"numta/{p.relative_to(tmp_path / 'unpacked').as_posix()}": p.read_bytes()
             for p in (tmp_path / "unpacked").rglob("*") if p.is_file()}
    write_zip(tmp_path / "numtadb" / "archive.zip", files)
    found = data.locate("numtadb", tmp_path)
    assert found.format == "numta-kaggle-zip"
    ds = data.load("numtadb", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert ds.y_train.tolist() == labels["training-a"] + labels["training-b"]
    assert len(ds.y_test) == 5 and ds.source.endswith("archive.zip")
    by_path = data.load(tmp_path / "numtadb" / "archive.zip", cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(by_path.x_train, ds.x_train)


def test_kaggle_zip_naming_a_missing_scan(tmp_path):
    write_numta_kaggle(tmp_path / "unpacked", {"training-a": 3})
    (tmp_path / "unpacked" / "training-a" / "a00002.png").unlink()
    files = {p.relative_to(tmp_path / "unpacked").as_posix(): p.read_bytes()
             for p in (tmp_path / "unpacked").rglob("*") if p.is_file()}
    write_zip(tmp_path / "numtadb" / "numta.zip", files)
    with pytest.raises(DatasetError, match=r"numta.zip/training-a.csv: names a00002.png"):
        data.load("numtadb", data_dir=tmp_path, cache_dir=tmp_path / "cache")


def test_corrupt_array_zip(tmp_path):
    write_numta_arrays(tmp_path / "numtadb", n=20)
    path = tmp_path / "numtadb" / "numtaX_train.zip"
    raw = bytearray(path.read_bytes())
    raw[60:400] = bytes(340)  # inside the compressed member
    path.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match=r"numtaX_train.zip: not a readable NumPy array file"):
        data.load("numtadb", data_dir=tmp_path, cache_dir=tmp_path / "cache")


def test_arrays_release_reports_countable_progress(tmp_path):
    write_numta_arrays(tmp_path / "numtadb", n=50, zipped=False)
    seen = []
    ds = data.load("numtadb", data_dir=tmp_path, cache_dir=tmp_path / "cache",
                   progress=lambda done, total, message: seen.append((done, total)))
    counted = [(done, total) for done, total in seen if total]
    # A percentage can be shown: the images are counted, in order, up to all 50.
    assert counted and counted[-1] == (50, 50)
    assert [done for done, _ in counted] == sorted(done for done, _ in counted)
    assert len(ds.y_train) + len(ds.y_test) == 50
