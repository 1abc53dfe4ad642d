"""Model files: a version-2 plain-data file (see :mod:`engine.plain_file`) of the model's fields.

A ``model.pkl`` holds one dict of built-in values and arrays; it never holds a class instance
of ours, so it opens in any Python with NumPy and loading it cannot run code. Its keys:

``format`` ("cnn-studio-model"), ``format_version``, ``arch_name``, ``spec`` (resolved layer
dicts), ``input_shape`` [H, W, C], ``num_classes``, ``class_names``, ``state`` (name -> array:
parameters and BatchNorm statistics), ``preprocessing`` (``normalizer`` dict, dataset ``kind``,
``digit`` settings), ``metrics`` (test accuracy, confusion matrix, ...), ``training`` (the
TrainingConfig dict), ``dataset`` (name, fingerprint, sizes), ``history``, ``engine_version``,
``created`` (ISO date, UTC). Everything but ``state`` and ``spec`` is a
:class:`~engine.model_meta.ModelMeta` once read.

Optional ``ood``: the "unlike the training data" threshold calibrated on the model's test set
(:class:`engine.explain.ood.OodCalibration` as a dict; kept in ``ModelMeta.other``).

:func:`export_npz` writes the same content as ``.npz`` arrays plus a ``.json`` file beside it,
for use outside Python; :func:`load_model` reads either form.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from engine.atomic_files import atomic_write_bytes, atomic_write_text
from engine.data.safe_pickle import NUMERIC_DTYPES, PickleRefusedError, checked_array
from engine.model_meta import ModelMeta
from engine.plain_file import (
    FILE_LIMITS,
    PLAIN_FORMAT_VERSION,
    PlainFileError,
    UnsafeFileError,
    dump_plain,
    load_plain,
    to_plain,
)
from engine.trained_model import TrainedModel

FORMAT_NAME = "cnn-studio-model"
FORMAT_VERSION = PLAIN_FORMAT_VERSION
ModelFileError = PlainFileError
UnsafeModelError = UnsafeFileError

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "ModelFileError", "UnsafeModelError",
           "atomic_write_bytes", "dump_plain", "export_npz", "load_model", "load_plain",
           "model_payload", "read_payload", "save_model", "to_plain"]


def model_payload(trained: TrainedModel) -> dict:
    """The plain-data dict that :func:`save_model` writes."""
    model = trained.model
    meta = trained.meta
    if meta.created is None:
        meta.created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    if meta.engine_version is None:
        meta.engine_version = _engine_version()
    payload = {
        **meta.to_dict(),
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "arch_name": getattr(model, "arch_name", meta.arch_name),
        "spec": model.spec,
        "input_shape": list(model.input_shape),
        "num_classes": int(model.num_classes),
        "state": model.state_dict(),
    }
    return to_plain(payload)


def save_model(trained: TrainedModel, path: str | os.PathLike) -> Path:
    """Write ``trained`` as a version-2 model file (written atomically). Returns the path."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        return export_npz(trained, path)
    dump_plain(model_payload(trained), path, file_format=FORMAT_NAME)
    return path


def export_npz(trained: TrainedModel, path: str | os.PathLike) -> Path:
    """Write the arrays to ``path`` (.npz) and everything else to the ``.json`` beside it."""
    path = Path(path).with_suffix(".npz")
    payload = model_payload(trained)
    state = payload.pop("state")
    buffer = io.BytesIO()
    np.savez(buffer, **state)
    atomic_write_bytes(path, buffer.getvalue())
    atomic_write_text(path.with_suffix(".json"), json.dumps(_json_ready(payload), indent=1))
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


_REQUIRED = ("spec", "input_shape", "class_names", "state", "preprocessing")


def _check_payload(payload: Any, path: Path) -> dict:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path} is not a CNN Studio model file")
    version = payload.get("format_version")
    if type(version) is not int or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has a model format version this CNN Studio does not know (it reads up to "
            f"{FORMAT_VERSION}): update the app to open it")
    missing = [k for k in _REQUIRED if k not in payload]
    if missing:
        raise ModelFileError(f"{path} is incomplete: it lacks {', '.join(missing)}")
    state = payload["state"]
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, np.ndarray) for k, v in state.items()):
        raise ModelFileError(f"{path}: state must be a table of named arrays")
    num_classes = payload.get("num_classes", None)
    if num_classes is not None and (type(num_classes) is not int or not isinstance(
            payload["class_names"], list) or num_classes != len(payload["class_names"])):
        raise ModelFileError(f"{path} is inconsistent: class names do not match the class count")
    return payload


def _read_npz_export(path: Path) -> dict:
    npz, meta_path = path.with_suffix(".npz"), path.with_suffix(".json")
    try:
        payload = json.loads(meta_path.read_text(encoding="utf-8"))
        if not isinstance(payload, dict):
            raise ModelFileError(f"{meta_path} is not a CNN Studio export (not a JSON object)")
        payload["state"] = _read_npz_arrays(npz)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"no such file: {exc.filename}") from None
    except ModelFileError:
        raise
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelFileError(f"{meta_path} is not valid JSON") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError, PickleRefusedError,
            NotImplementedError):
        raise ModelFileError(f"{npz} is damaged or not an .npz of arrays") from None
    return payload


def _read_npz_arrays(npz: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz``, each header checked (numeric dtype, a shape that matches the
    bytes present) before its data is read, so a tiny file cannot ask for gigabytes."""
    arrays: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(npz) as archive:
        members = archive.infolist()
        if sum(info.file_size for info in members) > FILE_LIMITS.max_bytes:
            raise ValueError("too large")
        for info in members:
            if not info.filename.endswith(".npy"):
                continue
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(member, max_header_size=10_000)
                if dtype.name not in NUMERIC_DTYPES or not all(
                        type(n) is int and n >= 0 for n in shape):
                    raise ValueError("not a numeric array")
                nbytes = math.prod(shape) * dtype.itemsize
                if nbytes > info.file_size:
                    raise ValueError("shorter than its shape")
                raw = member.read(nbytes)
            arrays[info.filename[:-4]] = checked_array(
                dtype, shape, raw, "F" if fortran else "C", FILE_LIMITS)
    return arrays


def read_payload(path: str | os.PathLike) -> dict:
    """The checked plain-data content of a ``.pkl`` or ``.npz`` (+ ``.json``) model file."""
    path = Path(path)
    if path.suffix.lower() in (".npz", ".json"):
        payload = _read_npz_export(path)
    else:
        payload = load_plain(path)
    return _check_payload(payload, path)


def _stored_values(state: dict) -> int:
    return sum(int(array.size) for array in state.values())


def load_model(path: str | os.PathLike) -> TrainedModel:
    """Open a model file (.pkl, or .npz with its .json) safely and rebuild the network."""
    from engine.model_size import check_spec_size
    from engine.spec import build_model

    path = Path(path)
    payload = read_payload(path)
    try:
        meta = ModelMeta.from_dict(payload, source=str(path))
        # Refuse a spec whose parameters would dwarf the arrays stored, before allocating them.
        check_spec_size(payload["spec"], meta.input_shape, len(meta.class_names),
                        _stored_values(payload["state"]))
        model = build_model(payload["spec"], input_shape=tuple(meta.input_shape),
                            num_classes=len(meta.class_names), seed=0)
        model.load_state_dict(payload["state"])
        model.arch_name = meta.arch_name  # the spec alone cannot say which preset it came from
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        text = str(exc).splitlines()[0][:300] if str(exc) else "it is malformed"
        if text.startswith(str(path)):
            raise ModelFileError(text) from None
        raise ModelFileError(f"{path}: the stored network does not rebuild: {text}") from None
    return TrainedModel(model, meta)


def _engine_version() -> str:
    import engine

    return engine.__version__
