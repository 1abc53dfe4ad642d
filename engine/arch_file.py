"""Architecture files: a network as JSON, either in the form of the presets in models/
(``{"name": ..., "note": ..., "layers": [...]}``) or as a bare layer list.

``train --arch FILE`` reads them, and the app opens and saves them (File ▸ Open architecture,
Save architecture as), so a network edited by hand can be kept, shared and trained headless.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.atomic_files import atomic_write_text
from engine.spec import resolve_layer

# An architecture is a few kilobytes: a larger file is something else and is not read whole.
MAX_BYTES = 1 << 20


@dataclass
class ArchFile:
    """What an architecture file holds: its layer list, and the name and note it gives."""

    layers: list[dict[str, Any]]
    name: str = "custom"
    note: str = ""


def read_arch_file(path: str | Path) -> ArchFile:
    """Read and check an architecture file: every layer's type and keys, as `build_model`
    checks them (shapes are checked when the network is built for a dataset).

    FileNotFoundError or ValueError with a one-line message when the file is missing, not
    JSON, or not a layer list.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not an architecture file")
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ValueError(f"{path.name} is {size / 1e6:.1f} MB: too large for an "
                             "architecture file (a JSON layer list of a few KB)")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"no such architecture file: {path}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path.name} is not a text file, so not an architecture "
                         "file") from None
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path.name} is not an architecture file: not valid JSON (line "
                         f"{exc.lineno}, column {exc.colno}: {exc.msg.lower()})") from None
    except RecursionError:
        raise ValueError(f"{path.name} nests too deeply to be an architecture file") from None
    return _arch_from_json(value, path)


def _arch_from_json(value: Any, path: Path) -> ArchFile:
    name, note = path.stem, ""
    if isinstance(value, dict):
        layers = value.get("layers")
        name = str(value.get("name") or name)
        note = str(value.get("note") or "")
    else:
        layers = value
    if not isinstance(layers, list) or not layers:
        raise ValueError(f'{path.name} holds no layer list: expected [{{"type": ...}}, ...] '
                         'or {"layers": [...]}, as the presets in models/ are written')
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict):
            raise ValueError(f'{path.name}: layer {i + 1} is not a {{"type": ...}} entry')
        try:
            resolve_layer(layer, 10)
        except ValueError as exc:
            raise ValueError(f"{path.name}: layer {i + 1} ({layer.get('type')}): {exc}") from None
    return ArchFile(layers=layers, name=name, note=note)


def write_arch_file(path: str | Path, arch: ArchFile) -> Path:
    """Write ``arch`` as a preset-style JSON file, whole or not at all; returns the path."""
    if not arch.layers:
        raise ValueError("the network has no layers: nothing to save")
    path = Path(path)
    parts = [f'  "name": {json.dumps(arch.name, ensure_ascii=False)}']
    if arch.note:
        parts.append(f'  "note": {json.dumps(arch.note, ensure_ascii=False)}')
    # One layer per line, its type first, as in models/*.json: readable and diff-friendly.
    rows = [json.dumps({"type": layer.get("type"), **layer}, ensure_ascii=False)
            for layer in arch.layers]
    layers = ",\n".join(f"    {row}" for row in rows)
    parts.append(f'  "layers": [\n{layers}\n  ]')
    atomic_write_text(path, "{\n" + ",\n".join(parts) + "\n}\n")
    return path
