"""The main window: four pages in tabs, the File menu, and what happens on close."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QMessageBox, QTabWidget, QWidget

from engine.serialize import UnsafeModelError, export_npz, load_model, save_model
from gui.messages import show_error, show_info
from gui.pages.data_page import DataPage
from gui.pages.evaluate_page import EvaluatePage
from gui.pages.predict_page import PredictPage
from gui.pages.train_page import TrainPage
from gui.session import Session, model_title
from gui.settings import Settings
from gui.tasks import TaskRunner

MODEL_FILTER = "CNN Studio model (*.pkl);;Weights export (*.npz)"


class MainWindow(QMainWindow):
    def __init__(self, session: Session | None = None, settings: Settings | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session or Session()
        self.settings = settings or Settings()
        self.tasks = TaskRunner(self)
        self._close_when_stopped = False
        self.setWindowTitle("CNN Studio")

        self.data_page = DataPage(self.session, self.settings, self.tasks)
        self.train_page = TrainPage(self.session, self.settings, self.data_page)
        self.predict_page = PredictPage(self.session)
        self.evaluate_page = EvaluatePage(self.session, self.tasks, self.predict_page)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        for page, title in ((self.data_page, "Data && model"), (self.train_page, "Train"),
                            (self.predict_page, "Predict"), (self.evaluate_page, "Evaluate")):
            self.tabs.addTab(page, title)
        self.setCentralWidget(self.tabs)
        self.train_page.snapshot_ready.connect(self.predict_page.set_snapshot)
        self.train_page.training_finished.connect(self._on_training_finished)
        self.train_page.running_changed.connect(self._on_running_changed)
        self.data_page.start_training_requested.connect(self._go_train)

        self.model_label = QLabel()
        self.dataset_label = QLabel()
        self.statusBar().addPermanentWidget(self.dataset_label)
        self.statusBar().addPermanentWidget(self.model_label)
        self.session.model_changed.connect(lambda _m: self._update_status())
        self.session.dataset_changed.connect(lambda _d: self._update_status())
        self.session.dataset_changed.connect(self._offer_default_model)

        self._build_menus()
        self._update_status()
        geometry = self.settings.geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 820)
        self.tabs.setCurrentIndex(min(max(0, self.settings.current_page()), 3))

    # --- menus -------------------------------------------------------------------------------
    def _action(self, text: str, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.open_action = self._action("&Open model…", self.open_model_dialog,
                                        QKeySequence.StandardKey.Open)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.save_action = self._action("&Save model", self.save_model_now,
                                        QKeySequence.StandardKey.Save)
        self.save_as_action = self._action("Save model &as…", self.save_model_dialog,
                                           QKeySequence.StandardKey.SaveAs)
        self.export_npz_action = self._action("Export weights (.npz + .json)…",
                                              self.export_npz_dialog)
        self.export_plot_action = self._action("Export training plot (PNG / CSV)…",
                                               self.export_plot_dialog)
        self.export_cm_action = self._action("Export confusion matrix (PNG / CSV)…",
                                             self.export_confusion_dialog)
        quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        file_menu.insertAction(self.recent_menu.menuAction(), self.open_action)
        for action in (self.save_action, self.save_as_action, self.export_npz_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.export_plot_action)
        file_menu.addAction(self.export_cm_action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        view_menu = bar.addMenu("&View")
        for i, name in enumerate(("Data && model", "Train", "Predict", "Evaluate")):
            action = self._action(name, lambda _=False, i=i: self.tabs.setCurrentIndex(i),
                                  f"Ctrl+{i + 1}")
            view_menu.addAction(action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self._action("&About CNN Studio", self._about))

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_models()
        if not recent:
            action = self.recent_menu.addAction("(no recent models)")
            action.setEnabled(False)
        for path in recent:
            self.recent_menu.addAction(path, lambda p=path: self.open_model(p))

    # --- model files -------------------------------------------------------------------------
    def open_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model", self._model_dir(), MODEL_FILTER)
        if path:
            self.open_model(path)

    def open_model(self, path: str | Path) -> bool:
        path = Path(path)
        try:
            trained = load_model(path)
        except UnsafeModelError as exc:
            show_error(self, "Model refused", f"{exc}\n\nNothing in the file was run.")
            return False
        except (ValueError, OSError) as exc:
            self.settings.remove_recent_model(path) if not path.exists() else None
            show_error(self, "Cannot open model", str(exc))
            return False
        self.session.set_model(trained, path)
        self.settings.add_recent_model(path)
        self.statusBar().showMessage(f"Opened {path}", 5000)
        return True

    def save_model_now(self) -> None:
        if self.session.model_path is not None and self.session.model_path.suffix == ".pkl":
            self.save_model(self.session.model_path)
        else:
            self.save_model_dialog()

    def save_model_dialog(self) -> None:
        if not self._have_model():
            return
        suggested = str(Path(self._model_dir()) / "model.pkl")
        path, selected = QFileDialog.getSaveFileName(self, "Save model", suggested, MODEL_FILTER)
        if path:
            if not Path(path).suffix:
                path += ".npz" if "npz" in selected else ".pkl"
            self.save_model(path)

    def export_npz_dialog(self) -> None:
        if not self._have_model():
            return
        suggested = str(Path(self._model_dir()) / "model.npz")
        path, _ = QFileDialog.getSaveFileName(self, "Export weights", suggested,
                                              "NumPy arrays + JSON (*.npz)")
        if path:
            self.save_model(Path(path).with_suffix(".npz"))

    def save_model(self, path: str | Path) -> bool:
        path = Path(path)
        trained = self.session.trained
        if trained is None:
            return False
        try:
            if path.suffix.lower() == ".npz":
                export_npz(trained, path)
            else:
                save_model(trained, path)
        except (ValueError, OSError) as exc:
            show_error(self, "Cannot save model", str(exc))
            return False
        if path.suffix.lower() == ".pkl":
            self.session.model_path = path
            self.session.model_dirty = False
            self.settings.add_recent_model(path)
        self._update_status()
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    # --- exports -----------------------------------------------------------------------------
    def export_plot_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export training plot", "training.png",
                                              "PNG image (*.png);;CSV data (*.csv)")
        if not path:
            return
        try:
            if path.lower().endswith(".csv"):
                self.train_page.plot.export_csv(path)
            else:
                self.train_page.plot.export_png(path if path.lower().endswith(".png")
                                                else path + ".png")
        except (ValueError, OSError) as exc:
            show_error(self, "Cannot export plot", str(exc))

    def export_confusion_dialog(self) -> None:
        view = self.evaluate_page.confusion_view
        if view.matrix() is None:
            show_info(self, "Nothing to export", "Evaluate a model first (Evaluate page).")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export confusion matrix", "confusion.png",
                                              "PNG image (*.png);;CSV table (*.csv)")
        if not path:
            return
        try:
            if path.lower().endswith(".csv"):
                view.export_csv(path)
            elif not view.grab().save(path if path.lower().endswith(".png") else path + ".png"):
                raise OSError(f"could not write {path}")
        except (ValueError, OSError) as exc:
            show_error(self, "Cannot export confusion matrix", str(exc))

    # --- state -------------------------------------------------------------------------------
    def _have_model(self) -> bool:
        if self.session.trained is None:
            show_info(self, "No model", "Train a model or open one first.")
            return False
        return True

    def _model_dir(self) -> str:
        recent = self.settings.recent_models()
        return str(Path(recent[0]).parent) if recent else str(Path.cwd())

    def _update_status(self) -> None:
        ds = self.session.dataset
        self.dataset_label.setText(f"Dataset: {ds.name}  ·" if ds is not None
                                   else "No dataset loaded  ·")
        dirty = " — not saved" if self.session.model_dirty else ""
        title = model_title(self.session.trained, self.session.model_path)
        self.model_label.setText(f"Model: {title}{dirty}")
        self.save_action.setEnabled(self.session.trained is not None)
        self.save_as_action.setEnabled(self.session.trained is not None)
        self.export_npz_action.setEnabled(self.session.trained is not None)

    def _offer_default_model(self, dataset) -> None:
        """Switching datasets also switches to that dataset's pretrained model, unless the
        current model was trained here and not saved, or already belongs to the dataset."""
        from gui.app import default_model_path

        trained = self.session.trained
        if dataset is None or self.session.model_dirty or self.train_page.is_running():
            return
        if trained is not None and (trained.meta.get("dataset") or {}).get("name") == dataset.name:
            return
        path = default_model_path(dataset.name)
        if path is not None and path != self.session.model_path:
            self.open_model(path)

    def _go_train(self) -> None:
        self.tabs.setCurrentWidget(self.train_page)
        self.train_page.start_training()

    def _on_training_finished(self, trained) -> None:
        self.session.set_model(trained, None, dirty=True)
        if self._close_when_stopped:
            QTimer.singleShot(0, self.close)

    def _on_running_changed(self, running: bool) -> None:
        self.open_action.setEnabled(not running)
        if not running and self._close_when_stopped:
            QTimer.singleShot(0, self.close)

    def _about(self) -> None:
        import engine

        show_info(self, "About CNN Studio",
                  f"CNN Studio {engine.__version__}\n\nConvolutional networks written from "
                  "scratch in NumPy: train them, draw on them, look inside them.")

    # --- closing -----------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if self.train_page.is_running():
            if not self._close_when_stopped:
                answer = QMessageBox.question(
                    self, "Training is running",
                    "Stop training and quit? A checkpoint is kept, so the run can be resumed "
                    "the next time CNN Studio starts.",
                    QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                    QMessageBox.StandardButton.No)
                if answer != QMessageBox.StandardButton.Yes:
                    event.ignore()
                    return
                self._close_when_stopped = True
                self.statusBar().showMessage("Stopping training and writing a checkpoint…")
                self.train_page.stop_training()
            event.ignore()  # closes when the worker reports that it has stopped
            return
        self.settings.set_geometry(self.saveGeometry())
        self.settings.set_current_page(self.tabs.currentIndex())
        self.settings.sync()
        self.tasks.wait_all()
        self.train_page.shutdown()
        event.accept()
