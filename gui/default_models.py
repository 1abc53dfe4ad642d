"""The small pretrained models shipped in assets/, one per dataset."""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_DATASET = "mnist"


def default_model_path(dataset: str = DEFAULT_DATASET, assets: Path | None = None) -> Path | None:
    """The pretrained model shipped for ``dataset`` (assets/<dataset>*.pkl), if any."""
    folder = ASSETS if assets is None else assets
    if not folder.is_dir():
        return None
    key = dataset.replace("-", "").replace("_", "")
    candidates = sorted(p for p in folder.glob("*.pkl")
                        if p.name.replace("-", "").replace("_", "").startswith(key))
    return candidates[0] if candidates else None


def is_inside_assets(path: str | Path, assets: Path | None = None) -> bool:
    """Whether ``path`` lies in the app's own assets/ folder (never a place to save into)."""
    folder = (ASSETS if assets is None else assets).resolve()
    return Path(path).resolve().is_relative_to(folder)
