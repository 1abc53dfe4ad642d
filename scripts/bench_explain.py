"""How long one Grad-CAM update takes for the shipped digit model, as the canvas needs it
while the pen moves (goal: at most 30 ms per update).

    python scripts/bench_explain.py [--model assets/mnist.pkl] [--updates 200] [--threads N]

Replays a drawing stroke by stroke (a 7 on the app's 280x280 canvas, one update per pen
segment) and times, per update: the canvas image to the network's input (the app's digit
preprocessing), the prediction alone, Grad-CAM alone (on a ShadowNetwork built once per
model, as the app keeps it) and, for comparison, Grad-CAM building its ShadowNetwork anew.
Prints median and 90th percentile, and the load average the machine was under.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.data.preprocess import image_to_input  # noqa: E402
from engine.explain import ShadowNetwork, grad_cam  # noqa: E402
from engine.serialize import load_model  # noqa: E402


def drawing_frames(updates: int) -> list[np.ndarray]:
    """The canvas (280, 280) uint8 after each of ``updates`` pen segments of a drawn 7."""
    from PIL import Image, ImageDraw

    corners = np.array([(70, 60), (210, 60), (120, 240)], float)
    path = np.concatenate([np.linspace(corners[i], corners[i + 1], updates // 2 + 1)[:-1]
                           for i in range(2)] + [corners[-1:]])[:updates + 1]
    canvas = Image.new("L", (280, 280), 255)
    draw = ImageDraw.Draw(canvas)
    frames = []
    for a, b in itertools.pairwise(path):
        draw.line([tuple(a), tuple(b)], fill=0, width=18)
        draw.ellipse((b[0] - 9, b[1] - 9, b[0] + 9, b[1] + 9), fill=0)
        frames.append(np.asarray(canvas).copy())
    return frames


def timed(fn, inputs) -> list[float]:
    times = []
    for item in inputs:
        start = time.perf_counter()
        fn(item)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(ROOT / "assets" / "mnist.pkl"))
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--threads", type=int, help="engine threads (default: all cores)")
    args = parser.parse_args(argv)
    if args.threads:
        from engine.threads import set_num_threads

        set_num_threads(args.threads)
    trained = load_model(args.model)
    frames = drawing_frames(args.updates)
    shape, kind = trained.input_shape, trained.kind

    def network_input(frame: np.ndarray) -> np.ndarray:
        return trained.normalize(image_to_input(frame, shape, kind)[None])[0]

    inputs = [network_input(f) for f in frames[:3]]  # warm-up of every path
    network = ShadowNetwork(trained.model)
    for x in inputs:
        grad_cam(network, x)
        grad_cam(trained.model, x)
        trained.model.predict_proba(x[None])
    load_before = os.getloadavg()
    rows = {"canvas -> input": timed(network_input, frames)}
    inputs = [network_input(f) for f in frames]
    rows["prediction"] = timed(lambda x: trained.model.predict_proba(x[None]), inputs)
    rows["Grad-CAM (kept ShadowNetwork)"] = timed(lambda x: grad_cam(network, x), inputs)
    rows["Grad-CAM (new ShadowNetwork)"] = timed(lambda x: grad_cam(trained.model, x), inputs)
    rows["whole update (input, Grad-CAM + its prediction)"] = timed(
        lambda f: grad_cam(network, network_input(f)), frames)
    load_after = os.getloadavg()
    print(f"{Path(args.model).name}, {len(frames)} updates, {os.cpu_count()} cores; load "
          f"average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    width = max(len(k) for k in rows)
    for label, times in rows.items():
        print(f"{label:<{width}}  median {np.median(times):6.2f} ms   "
              f"90th percentile {np.percentile(times, 90):6.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
