"""Any image folder, as a directory or a zip; images of any size and mode; bad trees refused."""

from __future__ import annotations

import numpy as np
import pytest

from engine import data
from engine.data.errors import DatasetError, DatasetNotFound
from tests.data.fixtures import draw_digit_scan, encode_image, image_tree, write_tree, write_zip


def test_single_pool_gets_a_stratified_held_out_test_split(tmp_path):
    write_tree(tmp_path / "pets", image_tree({"cat": 10, "dog": 5}, size=(40, 60)))
    ds = data.load(tmp_path / "pets", cache_dir=tmp_path / "cache")
    assert ds.kind == "colour" and ds.input_shape == (32, 32, 3)
    assert np.bincount(ds.y_test).tolist() == [2, 1] and len(ds.y_train) == 12
    assert "held out" in ds.notes and ds.class_names == ["cat", "dog"]


def test_zip_with_a_wrapping_folder_and_junk(tmp_path):
    files = {f"photos/train/{k}": v for k, v in image_tree({"a": 2, "b": 2}).items()}
    files |= {f"photos/test/{k}": v for k, v in image_tree({"a": 1, "b": 1}, seed=5).items()}
    files["photos/train/a/notes.txt"] = b"not an image"
    files["__MACOSX/photos/train/a/._000.png"] = b"resource fork"
    write_zip(tmp_path / "photos.zip", files)
    ds = data.load(tmp_path / "photos.zip", cache_dir=tmp_path / "cache")
    assert (len(ds.y_train), len(ds.y_test)) == (4, 2) and ds.name == "photos"


def test_grey_images_are_read_as_digits_through_the_mnist_preprocessing(tmp_path):
    rng = np.random.default_rng(0)
    files = {f"{d}/{i}.png": encode_image(draw_digit_scan(rng, 50 + i, 40))
             for d in ("zero", "one") for i in range(5)}
    write_tree(tmp_path / "scans", files)
    ds = data.load(tmp_path / "scans", cache_dir=tmp_path / "cache")
    assert ds.kind == "digits" and ds.input_shape == (28, 28, 1)
    # light-on-dark after preprocessing: the corners are background
    assert ds.x_train[:, 0, 0, 0].max() == 0 and ds.x_train.max() > 200


@pytest.mark.parametrize(("mode", "shape"), [
    ("RGBA", (32, 32, 3)), ("P", (32, 32, 3)), ("CMYK", (32, 32, 3)), ("RGB", (32, 32, 3)),
    ("L", (28, 28, 1)), ("I;16", (28, 28, 1)), ("1", (28, 28, 1)), ("LA", (28, 28, 1)),
])
def test_every_mode_is_decoded_to_the_guessed_input_shape(tmp_path, mode, shape):
    rng = np.random.default_rng(1)
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "I;16" else "PNG")
    files = {}
    for name in ("a", "b"):
        for i in range(2):
            array = rng.integers(0, 256, size=(20 + i, 30, 3), dtype=np.uint8)
            files[f"{name}/{i}.{fmt.lower()}"] = encode_image(array, fmt=fmt, mode=mode)
    write_tree(tmp_path / "modes", files)
    ds = data.load(tmp_path / "modes", cache_dir=tmp_path / "cache", use_cache=False)
    assert ds.x_train.dtype == np.uint8 and ds.input_shape == shape


def test_unreadable_image_names_the_file(tmp_path):
    files = image_tree({"a": 2, "b": 2})
    files["b/broken.png"] = b"\x89PNG\r\n\x1a\n not really"
    write_tree(tmp_path / "bad", files)
    with pytest.raises(DatasetError, match=r"b/broken.png: not a readable image"):
        data.load(tmp_path / "bad", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def test_empty_class_folder_is_refused(tmp_path):
    write_tree(tmp_path / "tree", image_tree({"a": 2, "b": 2}))
    (tmp_path / "tree" / "c").mkdir()
    with pytest.raises(DatasetError, match=r"tree/c: class folder holds no images"):
        data.load(tmp_path / "tree", cache_dir=tmp_path / "cache")


def test_empty_class_folder_inside_a_zip_is_refused(tmp_path):
    write_zip(tmp_path / "t.zip", image_tree({"a": 1, "b": 1}), dirs=("a", "b", "empty"))
    with pytest.raises(DatasetError, match=r"t.zip/empty: class folder holds no images"):
        data.load(tmp_path / "t.zip", cache_dir=tmp_path / "cache")


def test_a_single_class_is_not_a_classification_dataset(tmp_path):
    write_tree(tmp_path / "one", image_tree({"a": 3}))
    with pytest.raises(DatasetError, match="at least two"):
        data.load(tmp_path / "one", cache_dir=tmp_path / "cache")


def test_test_class_without_training_folder(tmp_path):
    files = {f"train/{k}": v for k, v in image_tree({"a": 1, "b": 1}).items()}
    files |= {f"test/{k}": v for k, v in image_tree({"c": 1}).items()}
    write_tree(tmp_path / "t", files)
    with pytest.raises(DatasetError, match=r"test class folder.*c have no training folder"):
        data.load(tmp_path / "t", cache_dir=tmp_path / "cache")


def test_a_zip_that_is_not_one(tmp_path):
    (tmp_path / "fake.zip").write_bytes(b"PK nope")
    with pytest.raises(DatasetError, match=r"fake.zip: not a readable zip"):
        data.load(tmp_path / "fake.zip", cache_dir=tmp_path / "cache")


def test_missing_path_and_unknown_name(tmp_path):
    with pytest.raises(DatasetNotFound, match="no such file or folder"):
        data.load(tmp_path / "nothing", cache_dir=tmp_path / "cache")


def test_kind_and_input_shape_can_be_chosen(tmp_path):
    write_tree(tmp_path / "pets", image_tree({"cat": 3, "dog": 3}, size=(40, 60)))
    ds = data.load(tmp_path / "pets", cache_dir=tmp_path / "cache", kind="colour",
                   input_shape=(24, 20, 3))
    assert ds.input_shape == (24, 20, 3)
    grey = data.load(tmp_path / "pets", cache_dir=tmp_path / "cache", kind="grey")
    assert grey.input_shape == (28, 28, 1) and grey.kind == "grey"
    with pytest.raises(ValueError, match="kind must be"):
        data.load(tmp_path / "pets", cache_dir=tmp_path / "cache", kind="audio")


def test_large_jpeg_photos_are_shrunk_while_decoding(tmp_path):
    rng = np.random.default_rng(3)
    files = {}
    for name in ("a", "b"):
        photo = np.zeros((600, 800, 3), np.uint8)
        photo[..., 0 if name == "a" else 2] = 200
        photo += rng.integers(0, 20, size=photo.shape, dtype=np.uint8)
        files[f"{name}/0.jpg"] = encode_image(photo, fmt="JPEG")
        files[f"{name}/1.jpg"] = encode_image(photo, fmt="JPEG")
    write_tree(tmp_path / "photos", files)
    ds = data.load(tmp_path / "photos", cache_dir=tmp_path / "cache")
    assert ds.input_shape == (32, 32, 3)
    x = np.concatenate([ds.x_train, ds.x_test])
    reds = x[np.concatenate([ds.y_train, ds.y_test]) == 0]
    assert reds[..., 0].mean() > 150 and reds[..., 2].mean() < 40
