"""NumtaDB (Bengali.AI handwritten Bangla digits) in its two published layouts.

* The Kaggle release, unpacked or as the downloaded zip: folders ``training-a`` ...
  ``training-e`` and ``testing-*`` of PNG/JPG scans of varying size (mostly dark ink on light
  paper), each with a CSV ``<folder>.csv`` whose header is ``filename,original filename,scanid,
  digit,database name original,contributing team,database name``. Every scan goes through the
  MNIST-style digit preprocessing. Testing folders whose CSV has a ``digit`` column form the
  test split.
* The 28x28 arrays release: ``numtaX_train.zip``/``.npy`` (uint8 (N, 28, 28), values 0..20,
  white digit on black) and ``numtaY_train.zip``/``.npy`` (float32 one-hot (N, 10)). Scaled to
  0..255 and passed through the same MNIST-style digit preprocessing as the scans.

Neither the arrays release nor an unlabelled Kaggle test set has test labels, so then a
deterministic stratified 20 % of the training images (seed 0) is held out as the test split:
50,000 arrays -> 40,000 train + 10,000 test.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.data.dataset import Dataset
from engine.data.decode import decode_all
from engine.data.errors import DatasetError
from engine.data.file_tree import FileTree, open_tree, zip_names
from engine.data.preprocess import digit_to_mnist
from engine.data.split import stratified_split

BENGALI_DIGITS = "০১২৩৪৫৬৭৮৯"
CLASS_NAMES = [f"{b} ({d})" for d, b in enumerate(BENGALI_DIGITS)]
ASCII_NAMES = [str(d) for d in range(10)]
TEST_FRACTION = 0.2
SPLIT_SEED = 0
REQUIRED_COLUMNS = ("filename", "digit")
_SPLIT_PREFIXES = ("training-", "testing-")
_KAGGLE_CSV = re.compile(r"(?:^|/)training-[^/]+\.csv$", re.IGNORECASE)


def _array_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.zip", folder / f"{stem}.npy"):
        if candidate.is_file():
            return candidate
    return None


def _is_split_name(name: str) -> bool:
    return name.lower().startswith(_SPLIT_PREFIXES)


def _has_kaggle_folders(folder: Path) -> bool:
    return any(sub.is_dir() and sub.name.lower().startswith("training-")
               for sub in folder.iterdir())


def is_kaggle_zip(path: Path) -> bool:
    """Whether ``path`` is a zip holding the Kaggle layout (a training-*.csv inside)."""
    if path.suffix.lower() != ".zip" or path.stem in ("numtaX_train", "numtaY_train"):
        return False
    try:
        names = zip_names(path)
    except DatasetError:
        return False
    return any(_KAGGLE_CSV.search(name) for name in names)


def _kaggle_zip(folder: Path) -> Path | None:
    """A zip of the Kaggle release (as downloaded) in ``folder``, or None."""
    return next((p for p in sorted(folder.glob("*.zip")) if is_kaggle_zip(p)), None)


def find_numtadb(folder: Path) -> tuple[str, Path, list[Path]] | None:
    """(format, root, source files) or None. Formats: "numta-kaggle" (the Kaggle folders, here
    or one level down), "numta-kaggle-zip" (the Kaggle download, not unpacked) and
    "numta-arrays" (the 28x28 release)."""
    if not folder.is_dir():
        return None
    found = _find_in(folder)
    if found is None:
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            if not _is_split_name(sub.name):
                found = _find_in(sub)
                if found is not None:
                    break
    return found


def _find_in(folder: Path) -> tuple[str, Path, list[Path]] | None:
    if _has_kaggle_folders(folder):
        files = [p for p in folder.iterdir() if _is_split_name(p.name)]
        return "numta-kaggle", folder, sorted(files)
    archive = _kaggle_zip(folder)
    if archive is not None:
        return "numta-kaggle-zip", archive, [archive]
    x_file, y_file = _array_file(folder, "numtaX_train"), _array_file(folder, "numtaY_train")
    if x_file and y_file:
        return "numta-arrays", folder, [x_file, y_file]
    return None


def _load_npy(path: Path) -> np.ndarray:
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                members = [n for n in archive.namelist() if n.endswith(".npy")]
                if not members:
                    raise DatasetError(f"{path}: the zip holds no .npy file")
                data = archive.read(members[0])
            return np.load(io.BytesIO(data), allow_pickle=False)
        return np.load(path, allow_pickle=False)
    except DatasetError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: not a readable NumPy array file ({exc})") from exc


def _held_out(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    keep, held = stratified_split(y, TEST_FRACTION, SPLIT_SEED)
    return x[keep], y[keep], x[held], y[held]


def _split_note(count: int) -> str:
    return (f"no labelled test set: a stratified {TEST_FRACTION:.0%} of the {count} training "
            f"images (seed {SPLIT_SEED}) is held out as the test split")


def read_arrays(x_path: Path, y_path: Path,
                progress: Callable[[int, int, str], None] | None = None) -> Dataset:
    """The 28x28 arrays release -> Dataset with a held-out stratified test split.

    ``progress(done, total, message)`` follows the digit preprocessing, image by image (the
    bulk of the time: ~20 s for the 50,000 images)."""
    x, y = _load_npy(x_path), _load_npy(y_path)
    if x.ndim == 4 and x.shape[3] == 1:
        x = x[..., 0]
    if x.ndim != 3 or x.dtype.kind not in "uif":
        raise DatasetError(f"{x_path}: expected images (N, H, W), got {x.dtype} {x.shape}")
    if y.ndim == 2:
        if not np.all((y == 0) | (y == 1)) or not np.all(y.sum(axis=1) == 1):
            raise DatasetError(f"{y_path}: expected one-hot labels (N, 10)")
        y = y.argmax(axis=1)
    if y.ndim != 1:
        raise DatasetError(f"{y_path}: expected labels (N,) or one-hot (N, 10), got {y.shape}")
    if len(x) != len(y):
        raise DatasetError(f"{x_path} holds {len(x)} images but {y_path} holds {len(y)} labels")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() > 9):
        raise DatasetError(f"{y_path}: labels must be 0..9, found {y.min()}..{y.max()}")
    # The release stores 0..20 (scale by the maximum); MNIST-style input wants 0..255.
    top = float(x.max()) if x.size else 0.0
    if top <= 0:
        raise DatasetError(f"{x_path}: every pixel is zero")
    x = np.clip(np.rint(x.astype(np.float32) * (255.0 / top)), 0, 255).astype(np.uint8)
    # Its digits fill ~11 of 28 pixels; the app's digit preprocessing (scans, the canvas) makes
    # MNIST's 20-pixel box, so the arrays go through the same preprocessing as everything else.
    x = _to_mnist_style(x, progress, f"preprocessing {x_path.name}")
    x_train, y_train, x_test, y_test = _held_out(x, y)
    return Dataset("numtadb", x_train, y_train, x_test, y_test, list(CLASS_NAMES), "digits",
                   str(x_path.parent), ascii_names=list(ASCII_NAMES), notes=_split_note(len(y)))


def _to_mnist_style(images: np.ndarray, progress: Callable[[int, int, str], None] | None,
                    message: str, every: int = 500) -> np.ndarray:
    """(N, H, W) -> (N, 28, 28, 1) uint8 through the digit preprocessing, with progress."""
    out = []
    for i, image in enumerate(images):
        out.append(digit_to_mnist(image))
        if progress and (i + 1) % every == 0:
            progress(i + 1, len(images), message)
    if progress:
        progress(len(images), len(images), message)
    return np.stack(out) if out else np.zeros((0, 28, 28, 1), np.uint8)


def _read_csv(tree: FileTree, csv_rel: str, folder_rel: str
              ) -> tuple[list[str], list[int]] | None:
    """Image paths (relative to the tree) and labels listed by one CSV; None when it has no
    ``digit`` column (an unlabelled testing folder)."""
    where = f"{tree.label}/{csv_rel}"
    try:
        text = tree.read(csv_rel).decode("utf-8-sig")
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = list(reader.fieldnames or [])
        rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{where}: cannot read the CSV ({exc})") from exc
    # Column names are matched ignoring case and surrounding spaces.
    columns = {h.strip().lower(): h for h in header if h}
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing == ["digit"] and folder_rel.rsplit("/", 1)[-1].lower().startswith("testing-"):
        return None
    if missing:
        raise DatasetError(f"{where}: missing column(s) {', '.join(missing)}; the header is "
                           f"{','.join(header) or '(empty)'}")
    names, labels, absent = [], [], []
    for number, row in enumerate(rows, start=2):
        filename = (row.get(columns["filename"]) or "").strip()
        digit = (row.get(columns["digit"]) or "").strip()
        if not filename:
            raise DatasetError(f"{where}: line {number} has no filename")
        try:
            label = int(float(digit))
        except (ValueError, OverflowError):
            raise DatasetError(f"{where}: line {number} has digit {digit!r}, not 0..9") from None
        if not 0 <= label <= 9:
            raise DatasetError(f"{where}: line {number} has digit {label}, not 0..9")
        rel = f"{folder_rel}/{filename}"
        if not tree.has_file(rel):
            absent.append(filename)
        names.append(rel)
        labels.append(label)
    if absent:
        more = f" and {len(absent) - 1} more" if len(absent) > 1 else ""
        raise DatasetError(f"{where}: names {absent[0]}{more}, not found in "
                           f"{tree.label}/{folder_rel}")
    if not names:
        raise DatasetError(f"{where}: lists no images")
    return names, labels


def _kaggle_prefix(tree: FileTree) -> str:
    """"" or "<folder>/": where the training-* folders are (an archive may wrap them)."""
    for parent in ["", *tree.children("")]:
        if any(c.lower().startswith("training-") for c in tree.children(parent)):
            return f"{parent}/" if parent else ""
    raise DatasetError(f"{tree.label}: no training-* folders (not the NumtaDB Kaggle layout)")


def read_kaggle(source: Path, progress: Callable[[int, int, str], None] | None = None
                ) -> Dataset:
    """The Kaggle layout (a folder or the downloaded zip): every scan through the digit
    preprocessing."""
    train: list[tuple[str, int]] = []
    test: list[tuple[str, int]] = []
    unlabelled = []
    with open_tree(source) as tree:
        prefix = _kaggle_prefix(tree)
        for name in tree.children(prefix.rstrip("/")):
            if not _is_split_name(name):
                continue
            folder_rel = prefix + name
            csv_rel = next((c for c in (f"{prefix}{name}.csv", f"{folder_rel}/{name}.csv")
                            if tree.has_file(c)), None)
            is_train = name.lower().startswith("training-")
            listed = _read_csv(tree, csv_rel, folder_rel) if csv_rel else None
            if listed is None:
                if is_train:
                    raise DatasetError(f"{tree.label}/{folder_rel}: no {name}.csv beside or "
                                       "inside it, so its labels are unknown")
                unlabelled.append(name)
                continue
            (train if is_train else test).extend(zip(*listed, strict=True))
        everything = train + test
        x = decode_all([rel for rel, _ in everything], tree.read, digit_to_mnist, progress,
                       f"preprocessing NumtaDB scans in {source.name}")
    y = np.array([label for _, label in everything], dtype=np.int64)
    notes = "Kaggle layout, each scan through the MNIST-style digit preprocessing"
    if test:
        cut = len(train)
        x_train, y_train, x_test, y_test = x[:cut], y[:cut], x[cut:], y[cut:]
    else:
        x_train, y_train, x_test, y_test = _held_out(x, y)
        notes += "; " + _split_note(len(y))
    if unlabelled:
        notes += f"; unlabelled folders ignored: {', '.join(unlabelled)}"
    return Dataset("numtadb", x_train, y_train, x_test, y_test, list(CLASS_NAMES), "digits",
                   str(source), ascii_names=list(ASCII_NAMES), notes=notes)


def read_numtadb(fmt: str, folder: Path, files: list[Path],
                 progress: Callable[[int, int, str], None] | None = None) -> Dataset:
    if fmt == "numta-arrays":
        return read_arrays(files[0], files[1], progress)
    return read_kaggle(folder, progress)
