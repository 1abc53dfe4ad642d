"""NumtaDB (Bengali.AI handwritten Bangla digits) in its two published layouts.

* The Kaggle release: folders ``training-a`` ... ``training-e`` and ``testing-*`` of PNG/JPG
  scans of varying size (mostly dark ink on light paper), each with a CSV ``<folder>.csv`` whose
  header is ``filename,original filename,scanid,digit,database name original,contributing
  team,database name``. Every scan goes through the MNIST-style digit preprocessing. Testing
  folders whose CSV has a ``digit`` column form the test split.
* The 28x28 arrays release: ``numtaX_train.zip``/``.npy`` (uint8 (N, 28, 28), values 0..20,
  white digit on black) and ``numtaY_train.zip``/``.npy`` (float32 one-hot (N, 10)).

Neither the arrays release nor an unlabelled Kaggle test set has test labels, so then a
deterministic stratified 20 % of the training images (seed 0) is held out as the test split:
50,000 arrays -> 40,000 train + 10,000 test.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.data.dataset import Dataset
from engine.data.decode import decode_all
from engine.data.errors import DatasetError
from engine.data.images import read_bytes
from engine.data.preprocess import digit_to_mnist
from engine.data.split import stratified_split

BENGALI_DIGITS = "০১২৩৪৫৬৭৮৯"
CLASS_NAMES = [f"{b} ({d})" for d, b in enumerate(BENGALI_DIGITS)]
ASCII_NAMES = [str(d) for d in range(10)]
TEST_FRACTION = 0.2
SPLIT_SEED = 0
REQUIRED_COLUMNS = ("filename", "digit")


def _array_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.zip", folder / f"{stem}.npy"):
        if candidate.is_file():
            return candidate
    return None


def _kaggle_folders(folder: Path) -> list[tuple[Path, Path | None]]:
    """(image folder, its CSV or None) for every training-*/testing-* folder."""
    pairs = []
    for sub in sorted(folder.iterdir()) if folder.is_dir() else []:
        if sub.is_dir() and sub.name.lower().startswith(("training-", "testing-")):
            csv_path = next((c for c in (folder / f"{sub.name}.csv", sub / f"{sub.name}.csv")
                             if c.is_file()), None)
            pairs.append((sub, csv_path))
    return pairs


def find_numtadb(folder: Path) -> tuple[str, Path, list[Path]] | None:
    """(format, root, files): ("numta-kaggle", root, [folders and CSVs]) or
    ("numta-arrays", folder, [x, y]) or None. The Kaggle folders may sit one level down (an
    archive unpacked into its own folder)."""
    found = _find_in(folder)
    if found is None and folder.is_dir():
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            if not sub.name.lower().startswith(("training-", "testing-")):
                found = _find_in(sub)
                if found is not None:
                    break
    return found


def _find_in(folder: Path) -> tuple[str, Path, list[Path]] | None:
    pairs = _kaggle_folders(folder)
    if any(p[0].name.lower().startswith("training-") for p in pairs):
        files = [path for pair in pairs for path in pair if path is not None]
        return "numta-kaggle", folder, files
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
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"{path}: not a readable NumPy array file ({exc})") from exc


def _held_out(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    keep, held = stratified_split(y, TEST_FRACTION, SPLIT_SEED)
    return x[keep], y[keep], x[held], y[held]


def _split_note(count: int) -> str:
    return (f"no labelled test set: a stratified {TEST_FRACTION:.0%} of the {count} training "
            f"images (seed {SPLIT_SEED}) is held out as the test split")


def read_arrays(x_path: Path, y_path: Path) -> Dataset:
    """The 28x28 arrays release -> Dataset with a held-out stratified test split."""
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
    x_train, y_train, x_test, y_test = _held_out(x[..., None], y)
    return Dataset("numtadb", x_train, y_train, x_test, y_test, list(CLASS_NAMES), "digits",
                   str(x_path.parent), ascii_names=list(ASCII_NAMES), notes=_split_note(len(y)))


def _read_csv(csv_path: Path, folder: Path) -> tuple[list[str], list[int]] | None:
    """Relative image paths and labels listed by one CSV; None when it has no ``digit`` column
    (an unlabelled testing folder)."""
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or [])
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{csv_path}: cannot read the CSV ({exc})") from exc
    # Column names are matched ignoring case and surrounding spaces.
    columns = {h.strip().lower(): h for h in header if h}
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing == ["digit"] and folder.name.lower().startswith("testing-"):
        return None
    if missing:
        raise DatasetError(f"{csv_path}: missing column(s) {', '.join(missing)}; the header is "
                           f"{','.join(header) or '(empty)'}")
    names, labels, absent = [], [], []
    for number, row in enumerate(rows, start=2):
        filename = (row.get(columns["filename"]) or "").strip()
        digit = (row.get(columns["digit"]) or "").strip()
        if not filename:
            raise DatasetError(f"{csv_path}: line {number} has no filename")
        try:
            label = int(float(digit))
        except (ValueError, OverflowError):
            raise DatasetError(f"{csv_path}: line {number} has digit {digit!r}, not 0..9") from None
        if not 0 <= label <= 9:
            raise DatasetError(f"{csv_path}: line {number} has digit {label}, not 0..9")
        if not (folder / filename).is_file():
            absent.append(filename)
        names.append(filename)
        labels.append(label)
    if absent:
        more = f" and {len(absent) - 1} more" if len(absent) > 1 else ""
        raise DatasetError(f"{csv_path}: names {absent[0]}{more}, not found in {folder}")
    if not names:
        raise DatasetError(f"{csv_path}: lists no images")
    return names, labels


def read_kaggle(folder: Path, progress: Callable[[int, int, str], None] | None = None
                ) -> Dataset:
    """The Kaggle layout: every scan through the digit preprocessing."""
    train: list[tuple[str, int]] = []
    test: list[tuple[str, int]] = []
    unlabelled = []
    for sub, csv_path in _kaggle_folders(folder):
        is_train = sub.name.lower().startswith("training-")
        if csv_path is None:
            if is_train:
                raise DatasetError(f"{sub}: no {sub.name}.csv beside or inside it, so its "
                                   "labels are unknown")
            unlabelled.append(sub.name)
            continue
        listed = _read_csv(csv_path, sub)
        if listed is None:
            unlabelled.append(sub.name)
            continue
        pairs = [(str(sub / name), label) for name, label in zip(*listed, strict=True)]
        (train if is_train else test).extend(pairs)
    everything = train + test
    x = decode_all([p for p, _ in everything], read_bytes, digit_to_mnist,
                   progress, f"preprocessing NumtaDB scans in {folder.name}")
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
                   str(folder), ascii_names=list(ASCII_NAMES), notes=notes)


def read_numtadb(fmt: str, folder: Path, files: list[Path],
                 progress: Callable[[int, int, str], None] | None = None) -> Dataset:
    if fmt == "numta-arrays":
        return read_arrays(files[0], files[1])
    return read_kaggle(folder, progress)
