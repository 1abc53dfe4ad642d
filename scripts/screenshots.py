"""Screenshots of every page of the running app, for the README.

    CNN_STUDIO_DATA=../shared/datasets .venv/bin/python scripts/screenshots.py [--out DIR]

Opens the app offscreen on MNIST with the pretrained default model, trains a short run for the
Train page, draws a digit on the Predict page, evaluates on the test set, and writes
assets/screenshots/<page>.png. Takes about a minute on two cores.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEvent, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

SIZE = (1280, 820)


def wait(app: QApplication, seconds: float = 0.0, until: Callable[[], bool] | None = None,
         timeout: float = 300.0) -> None:
    """Run the event loop for ``seconds``, or until ``until()`` is true."""
    end = time.monotonic() + (timeout if until is not None else seconds)
    while time.monotonic() < end:
        app.processEvents()
        if until is not None and until():
            return
        time.sleep(0.01)
    if until is not None:
        raise TimeoutError("the app did not get there in time")


def stroke(widget: QWidget, points: list[tuple[float, float]]) -> None:
    def send(kind: QEvent.Type, p: QPointF, button: Qt.MouseButton,
             buttons: Qt.MouseButton) -> None:
        QApplication.sendEvent(widget, QMouseEvent(kind, p, widget.mapToGlobal(p), button, buttons,
                                                   Qt.KeyboardModifier.NoModifier))

    pts = [QPointF(x, y) for x, y in points]
    left = Qt.MouseButton.LeftButton
    send(QEvent.Type.MouseButtonPress, pts[0], left, left)
    for p in pts[1:]:
        send(QEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, left)
    send(QEvent.Type.MouseButtonRelease, pts[-1], left, Qt.MouseButton.NoButton)


def polyline(*corners: tuple[float, float], steps: int = 12) -> list[tuple[float, float]]:
    out = []
    for (x0, y0), (x1, y1) in itertools.pairwise(corners):
        out += [(x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps) for i in range(steps)]
    return [*out, corners[-1]]


def save(window: QWidget, out: Path, name: str) -> None:
    path = out / f"{name}.png"
    if not window.grab().save(str(path)):
        raise OSError(f"could not write {path}")
    print(f"wrote {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "screenshots")
    parser.add_argument("--train-images", type=int, default=12000,
                        help="images in the short run shown on the Train page")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    app = QApplication(sys.argv[:1])
    app.setApplicationName("CNN Studio")
    from gui.app import create_window, default_model_path
    from gui.settings import Settings
    from gui.state import TrainingSetup

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(Path(tmp) / "settings.ini")  # never the user's own settings
        settings.set_checkpoint_dir(Path(tmp) / "checkpoints")
        window = create_window(settings=settings)
        window.resize(*SIZE)
        window.show()
        data_page, train_page = window.data_page, window.train_page
        wait(app, until=lambda: window.app_model.dataset is not None and not data_page.is_loading())
        default_model = window.app_model.model_path or default_model_path()
        wait(app, 0.5)
        window.tabs.setCurrentWidget(data_page)
        wait(app, 0.3)
        save(window, args.out, "data")

        # A short run on part of MNIST so that the Train page shows live plots and a log.
        data_page.preset_combo.setCurrentIndex(data_page.preset_combo.findData("lenet5"))
        data_page.hyper.set_values({"epochs": 4, "batch_size": 64, "optimizer": "adam",
                                    "lr": 0.002, "schedule": "cosine", "val_split": 0.1})
        quick = data_page.training_config().replace(max_train_images=args.train_images)
        window.app_model.set_training_setup(TrainingSetup(quick))
        # The short run is not worth keeping: switching models afterwards asks nothing.
        window.app_model.confirm_replace = lambda _action: True
        window.tabs.setCurrentWidget(train_page)
        wait(app, 0.3)
        train_page.start_training()
        wait(app, until=lambda: not train_page.is_running(), timeout=600)
        train_page.plot.flush()
        wait(app, 0.5)
        save(window, args.out, "train")

        if default_model is not None:
            window.open_model(default_model)
        predict = window.predict_page
        window.tabs.setCurrentWidget(predict)
        wait(app, 0.2)
        # A handwritten-looking 7: top bar, then a slanted down-stroke.
        stroke(predict.canvas, polyline((70, 62), (150, 58), (212, 66)))
        stroke(predict.canvas, polyline((212, 66), (170, 150), (128, 236)))
        wait(app, until=lambda: predict.probabilities() is not None, timeout=10)
        wait(app, 0.3)
        save(window, args.out, "predict")

        evaluate = window.evaluate_page
        window.tabs.setCurrentWidget(evaluate)
        evaluate.start_evaluation()
        wait(app, until=lambda: evaluate.evaluation is not None and not evaluate.is_busy(),
             timeout=600)
        ev = evaluate.evaluation
        off = ev.cm.copy()
        off[range(len(off)), range(len(off))] = 0
        t, p = divmod(int(off.argmax()), off.shape[1])
        evaluate.show_cell(t, p)
        wait(app, 0.3)
        save(window, args.out, "evaluate")
        for index, name in ((2, "evaluate_mistakes"), (3, "evaluate_filters"),
                            (4, "evaluate_feature_maps"), (5, "evaluate_layer_times")):
            evaluate.tabs.setCurrentIndex(index)
            if name == "evaluate_feature_maps":
                evaluate.map_layer.setCurrentIndex(0)
            wait(app, 0.3)
            save(window, args.out, name)
        # NumtaDB: Bengali digits, with the pretrained NumtaDB model on the Predict page.
        if data_page.dataset_combo.findData("numtadb") >= 0:
            data_page.load_dataset("numtadb")
            wait(app, until=lambda: window.app_model.dataset is not None
                 and window.app_model.dataset.name == "numtadb" and not data_page.is_loading())
            window.tabs.setCurrentWidget(data_page)
            wait(app, 0.3)
            save(window, args.out, "data_numtadb")
        window.close()
        wait(app, 0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
