"""Model files: a pickle of plain data, read back with an unpickler that admits nothing else.

A ``model.pkl`` is one dict of built-in values (str, int, float, bool, None, list, dict) and
NumPy arrays; it never holds a class instance of ours, so it opens in any Python with NumPy
and loading it cannot run code. Its keys:

``format`` ("cnn-studio-model"), ``format_version``, ``arch_name``, ``spec`` (resolved layer
dicts), ``input_shape`` [H, W, C], ``num_classes``, ``class_names``, ``state`` (name -> array:
parameters and BatchNorm statistics), ``preprocessing`` (``normalizer`` dict, dataset ``kind``,
``digit`` settings), ``metrics`` (test accuracy, confusion matrix, ...), ``training`` (the
TrainingConfig dict), ``dataset`` (name, fingerprint, sizes), ``history``, ``engine_version``,
``created`` (ISO date, UTC).

:func:`export_npz` writes the same content as ``.npz`` arrays plus a ``.json`` file beside it,
for use outside Python; :func:`load_model` reads either form.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from engine.trained_model import TrainedModel

FORMAT_NAME = "cnn-studio-model"
FORMAT_VERSION = 1
_PICKLE_PROTOCOL = 4  # arrays pickle as ndarray/_reconstruct; no out-of-band buffers


class ModelFileError(ValueError):
    """A model or checkpoint file that cannot be read: wrong format, damaged, incomplete."""


class UnsafeModelError(ModelFileError):
    """A pickle that asks to import or call something a CNN Studio file never contains."""


# Exactly what pickling a NumPy array (protocol 2-5, NumPy 1.x or 2.x) needs, and nothing more.
_ALLOWED_GLOBALS = frozenset({
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.numeric", "_frombuffer"),
})


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler for plain data and NumPy arrays; any other global is refused before it is
    imported, so a crafted ``__reduce__`` (``os.system``, ``eval``, ...) never runs."""

    def __init__(self, file: io.BufferedIOBase, source: str = "file") -> None:
        super().__init__(file)
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise UnsafeModelError(
            f"{self._source}: refused to open: it asks to run {module}.{name}, which a CNN Studio "
            "file never contains (it may be malicious). Nothing in it was executed."
        )

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeModelError(f"{self._source}: refused to open: it uses persistent references")


def load_plain(path: str | os.PathLike) -> Any:
    """Read a pickle of plain data and arrays written by :func:`dump_plain`, safely."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            obj = RestrictedUnpickler(f, source=str(path)).load()
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise ModelFileError(f"{path} is a folder, not a file") from None
    except UnsafeModelError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, MemoryError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path} is not a readable CNN Studio file ({exc})") from None
    _refuse_object_arrays(obj, str(path))
    return obj


def _refuse_object_arrays(obj: Any, source: str) -> None:
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise UnsafeModelError(f"{source}: refused to open: it holds an array of objects")
    elif isinstance(obj, dict):
        for value in obj.values():
            _refuse_object_arrays(value, source)
    elif isinstance(obj, list | tuple):
        for value in obj:
            _refuse_object_arrays(value, source)


def to_plain(obj: Any) -> Any:
    """``obj`` as built-in values and numeric NumPy arrays only (tuples become lists, NumPy
    scalars Python numbers); anything else is a bug in the caller and raises TypeError."""
    if obj is None or isinstance(obj, bool | int | float | str | bytes):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise TypeError("arrays of Python objects cannot go into a model file")
        return obj
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if not isinstance(key, str | int):
                raise TypeError(f"dict keys must be str or int, got {type(key).__name__}")
            out[key] = to_plain(value)
        return out
    if isinstance(obj, list | tuple):
        return [to_plain(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"{type(obj).__name__} is not plain data and cannot go into a model file")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename, so a
    crash or ``kill -9`` mid-write leaves either the old file or the new one, whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not available on every platform, and not needed for the
    # "old or new, never half" guarantee, so failures are ignored.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def dump_plain(obj: Any, path: str | os.PathLike) -> None:
    """Pickle ``obj`` (converted by :func:`to_plain`) to ``path`` atomically."""
    atomic_write_bytes(path, pickle.dumps(to_plain(obj), protocol=_PICKLE_PROTOCOL))


def model_payload(trained: TrainedModel) -> dict:
    """The plain-data dict that :func:`save_model` pickles."""
    model = trained.model
    trained.meta.setdefault("created", _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    trained.meta.setdefault("engine_version", _engine_version())
    payload = {
        **trained.meta,
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "arch_name": getattr(model, "arch_name", trained.meta.get("arch_name", "custom")),
        "spec": model.spec,
        "input_shape": list(model.input_shape),
        "num_classes": int(model.num_classes),
        "state": model.state_dict(),
    }
    return to_plain(payload)


def save_model(trained: TrainedModel, path: str | os.PathLike) -> Path:
    """Write ``trained`` as a plain-data pickle (written atomically). Returns the path."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        return export_npz(trained, path)
    dump_plain(model_payload(trained), path)
    return path


def export_npz(trained: TrainedModel, path: str | os.PathLike) -> Path:
    """Write the arrays to ``path`` (.npz) and everything else to the ``.json`` beside it."""
    path = Path(path).with_suffix(".npz")
    payload = model_payload(trained)
    state = payload.pop("state")
    buffer = io.BytesIO()
    np.savez(buffer, **state)
    atomic_write_bytes(path, buffer.getvalue())
    text = json.dumps(_json_ready(payload), indent=1)
    atomic_write_bytes(path.with_suffix(".json"), text.encode("utf-8"))
    return path


def _json_ready(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, dict):
        return {str(k): _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_ready(v) for v in obj]
    if isinstance(obj, bytes):
        return obj.hex()
    return obj


_REQUIRED = ("spec", "input_shape", "class_names", "state")


def load_meta(payload: dict) -> dict:
    """The payload without its arrays (what :attr:`TrainedModel.meta` holds)."""
    return {k: v for k, v in payload.items() if k != "state"}


def _check_payload(payload: Any, path: Path) -> dict:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path} is not a CNN Studio model file")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has model format version {version!r}; this CNN Studio reads up to "
            f"{FORMAT_VERSION}: update the app to open it")
    missing = [k for k in _REQUIRED if k not in payload]
    if missing:
        raise ModelFileError(f"{path} is incomplete: it lacks {', '.join(missing)}")
    if len(payload["class_names"]) != payload.get("num_classes", len(payload["class_names"])):
        raise ModelFileError(f"{path} is inconsistent: class names do not match the class count")
    return payload


def read_payload(path: str | os.PathLike) -> dict:
    """The checked plain-data content of a ``.pkl`` or ``.npz`` (+ ``.json``) model file."""
    path = Path(path)
    if path.suffix.lower() in (".npz", ".json"):
        npz, meta_path = path.with_suffix(".npz"), path.with_suffix(".json")
        try:
            payload = json.loads(meta_path.read_text(encoding="utf-8"))
            with np.load(npz, allow_pickle=False) as arrays:
                payload["state"] = {name: arrays[name] for name in arrays.files}
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"no such file: {exc.filename}") from None
        except (json.JSONDecodeError, ValueError, OSError) as exc:
            raise ModelFileError(f"{path} is not a readable CNN Studio export ({exc})") from None
    else:
        payload = load_plain(path)
    return _check_payload(payload, path)


def load_model(path: str | os.PathLike) -> TrainedModel:
    """Open a model file (.pkl, or .npz with its .json) safely and rebuild the network."""
    from engine.spec import build_model

    path = Path(path)
    payload = read_payload(path)
    try:
        model = build_model(payload["spec"], input_shape=tuple(payload["input_shape"]),
                                   num_classes=len(payload["class_names"]), seed=0)
        model.load_state_dict(payload["state"])
    except ValueError as exc:
        raise ModelFileError(f"{path}: the stored network does not rebuild: {exc}") from None
    return TrainedModel(model, load_meta(payload))


def _engine_version() -> str:
    import engine

    return engine.__version__
