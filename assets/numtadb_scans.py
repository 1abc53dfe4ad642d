"""Write NumtaDB's held-out test digits as Kaggle-style scans, to check `predict --labels`.

The shared NumtaDB copy is the 28x28 arrays release; users have the Kaggle release instead:
folders of scans of varying size, dark ink on light paper, with a CSV per folder. This script
turns the held-out test split (never seen in training) into that layout -- each digit inverted,
scaled 2-6x, padded with a random paper margin, slightly rotated, with noise, as PNG or JPEG --
so the whole path (file reading, digit preprocessing, model) can be measured:

    python assets/numtadb_scans.py --out /tmp/numta-scans --count 2000
    python main.py predict assets/numtadb.pkl /tmp/numta-scans/testing-x \
        --labels /tmp/numta-scans/testing-x.csv --csv /tmp/numta-scans/predictions.csv
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HEADER = ["filename", "original filename", "scanid", "digit", "database name original",
          "contributing team", "database name"]


def scan_like(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """digit: (28, 28) uint8, light ink on black -> a grey 'scan': dark ink on light paper."""
    paper = int(rng.integers(200, 256))
    ink = int(rng.integers(0, 60))
    level = digit.astype(np.float32) / max(int(digit.max()), 1)
    page = paper + (ink - paper) * level
    image = Image.fromarray(np.clip(page, 0, 255).astype(np.uint8))
    size = int(28 * rng.uniform(2.0, 6.0))
    image = image.resize((size, size), Image.BICUBIC)
    image = image.rotate(float(rng.uniform(-8, 8)), resample=Image.BICUBIC, fillcolor=paper)
    margin = rng.integers(0, size // 3 + 1, 4)
    canvas = Image.new("L", (size + margin[0] + margin[1], size + margin[2] + margin[3]), paper)
    canvas.paste(image, (int(margin[0]), int(margin[2])))
    noisy = np.asarray(canvas, dtype=np.float32) + rng.normal(0, 6, (canvas.height, canvas.width))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder to write testing-x/ and its CSV")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--data-dir", help="datasets folder (default: $CNN_STUDIO_DATA)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from engine import data

    dataset = data.load("numtadb", data_dir=args.data_dir)
    rng = np.random.default_rng(args.seed)
    folder = Path(args.out) / "testing-x"
    folder.mkdir(parents=True, exist_ok=True)
    with open(Path(args.out) / "testing-x.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for i in range(min(args.count, len(dataset.y_test))):
            name = f"x{i:05d}." + ("png" if i % 2 else "jpg")
            scan_like(dataset.x_test[i, :, :, 0], rng).save(folder / name)
            writer.writerow([name, f"scan{i}.jpg", i, int(dataset.y_test[i]), "synthetic",
                             "cnn-studio", "numta-x"])
    print(f"wrote {min(args.count, len(dataset.y_test))} scans to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
