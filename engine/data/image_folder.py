"""Any image-folder tree, as a directory or a ``.zip``:

    <root>/<class>/<image>                      one pool, a stratified 20 % test split is held out
    <root>/train/<class>/<image> + <root>/test/<class>/<image>    (also training/testing, val)

Images of any size and mode are converted to the input shape of the chosen kind ("colour":
resized/centre-cropped RGB 32x32, "digits": MNIST-style 28x28, "grey": fitted 28x28). With no
kind given, a tree of grey images is read as digits and anything else as colour.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from engine.data.dataset import KIND_INPUT_SHAPES, Dataset
from engine.data.decode import decode_all
from engine.data.errors import DatasetError
from engine.data.file_tree import FileTree, open_tree
from engine.data.images import decode_image, is_image_name
from engine.data.preprocess import image_to_input
from engine.data.split import stratified_split

TRAIN_NAMES = ("train", "training")
TEST_NAMES = ("test", "testing", "val", "valid", "validation")
TEST_FRACTION = 0.2
SPLIT_SEED = 0


def _find_root(tree: FileTree) -> str:
    """Skip single wrapping folders (a zip of ``cifar10/train/...`` starts at ``cifar10``)."""
    root = ""
    while True:
        children = tree.children(root)
        prefix = f"{root}/" if root else ""
        loose_images = any(is_image_name(f) and "/" not in f[len(prefix):]
                           for f in tree.files if f.startswith(prefix))
        if len(children) != 1 or loose_images or children[0].lower() in TRAIN_NAMES:
            return root
        below = f"{prefix}{children[0]}"
        if not tree.children(below):
            return root
        root = below


def _class_files(tree: FileTree, folder: str) -> dict[str, list[str]]:
    """class name -> sorted image paths under ``folder``/<class>/ (nested folders included)."""
    classes = tree.children(folder)
    prefix = f"{folder}/" if folder else ""
    found: dict[str, list[str]] = {c: [] for c in classes}
    for rel in tree.files:
        if rel.startswith(prefix) and is_image_name(rel):
            parts = rel[len(prefix):].split("/")
            if len(parts) >= 2 and parts[0] in found:
                found[parts[0]].append(rel)
    empty = [c for c, files in found.items() if not files]
    if empty:
        where = f"{tree.label}/{prefix}{empty[0]}"
        raise DatasetError(f"{where}: class folder holds no images"
                           + (f" (nor do {len(empty) - 1} other class folders)" if len(empty) > 1
                              else ""))
    return found


def _guess_kind(tree: FileTree, files: list[str]) -> str:
    sample = files[:: max(1, len(files) // 16)][:16]
    for rel in sample:
        image = decode_image(tree.read(rel), f"{tree.label}/{rel}")
        if image.ndim == 3 and not (np.array_equal(image[..., 0], image[..., 1])
                                    and np.array_equal(image[..., 1], image[..., 2])):
            return "colour"
    return "digits"


def _transform(image: np.ndarray, input_shape: tuple[int, int, int], kind: str) -> np.ndarray:
    if image.shape == input_shape:
        return image
    if kind == "colour" and image.ndim == 3 and image.shape[:2] == input_shape[:2]:
        return image if input_shape[2] == 3 else image_to_input(image, input_shape, kind)
    return image_to_input(image, input_shape, kind)


def read_image_folder(path: Path, kind: str | None = None,
                      input_shape: tuple[int, int, int] | None = None,
                      progress: Callable[[int, int, str], None] | None = None,
                      name: str | None = None) -> Dataset:
    """Read an image-folder tree (directory or zip) into a Dataset of ``kind``/``input_shape``."""
    path = Path(path)
    with open_tree(path) as tree:
        root = _find_root(tree)
        children = {c.lower(): c for c in tree.children(root)}
        prefix = f"{root}/" if root else ""
        train_dir = next((children[n] for n in TRAIN_NAMES if n in children), None)
        test_dir = next((children[n] for n in TEST_NAMES if n in children), None)
        if train_dir is not None:
            train = _class_files(tree, prefix + train_dir)
            test = _class_files(tree, prefix + test_dir) if test_dir else {}
        else:
            train, test = _class_files(tree, root), {}
        if len(train) < 2:
            raise DatasetError(
                f"{path}: found {len(train)} class folder(s); an image folder needs at least "
                "two: <root>/<class>/<image>, or <root>/train/<class>/... and <root>/test/...")
        class_names = sorted(train)
        unknown = sorted(set(test) - set(class_names))
        if unknown:
            raise DatasetError(f"{path}: test class folder(s) {', '.join(unknown)} have no "
                               "training folder")
        index = {c: i for i, c in enumerate(class_names)}
        train_files = [f for c in class_names for f in train[c]]
        train_labels = np.array([index[c] for c in class_names for _ in train[c]], np.int64)
        test_files = [f for c in class_names for f in test.get(c, [])]
        test_labels = np.array([index[c] for c in class_names for _ in test.get(c, [])],
                               np.int64)
        kind = kind or _guess_kind(tree, train_files)
        input_shape = tuple(input_shape or KIND_INPUT_SHAPES[kind])
        transform = partial(_transform, input_shape=input_shape, kind=kind)
        all_files = train_files + test_files
        x = decode_all(all_files, tree.read, transform, progress, f"decoding {path.name}",
                       draft=8 * max(input_shape[:2]))
    x_train, x_test = x[:len(train_files)], x[len(train_files):]
    notes = ""
    if not test_files:
        keep, held = stratified_split(train_labels, TEST_FRACTION, SPLIT_SEED)
        x_train, x_test = x[keep], x[held]
        train_labels, test_labels = train_labels[keep], train_labels[held]
        notes = (f"no test folder: a stratified {TEST_FRACTION:.0%} of the images (seed "
                 f"{SPLIT_SEED}) is held out as the test split")
    return Dataset(name or path.name.split(".")[0], x_train, train_labels, x_test, test_labels,
                   class_names, kind, str(path), notes=notes)
