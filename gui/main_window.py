"""The main window: four pages in tabs over one application model, the menus, the status bar,
and the questions asked before unsaved work could be lost."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication, QSize, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QMessageBox, QTabWidget, QWidget

from engine.serialize import UnsafeModelError, export_npz, save_model
from gui import model_files
from gui.architecture_dialogs import add_architecture_actions
from gui.class_names_dialog import rename_classes_dialog
from gui.default_models import default_model_path
from gui.file_dialogs import give_usual_permissions, remember_dir, start_dir, suggested_path
from gui.getting_started import GETTING_STARTED
from gui.messages import show_error, show_info
from gui.pages.data_page import DataPage
from gui.pages.evaluate_page import EvaluatePage
from gui.pages.predict_page import PredictPage
from gui.pages.train_page import TrainPage
from gui.settings import Settings
from gui.state import AppModel, CurrentModel
from gui.state.model_facts import trained_on
from gui.tasks import TaskRunner

MODEL_FILTER = "CNN Studio model (*.pkl);;Weights export (*.npz)"
MINIMUM_SIZE = (880, 560)  # below this, buttons and combos clip their text
PAGE_TITLES = ("Data && model", "Train", "Predict", "Evaluate")
StandardButton = QMessageBox.StandardButton


class MainWindow(QMainWindow):
    def __init__(self, app_model: AppModel | None = None, settings: Settings | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.app_model = app_model or AppModel()
        self.settings = settings or Settings()
        self.tasks = TaskRunner(self)
        self._close_when_stopped = False
        self.app_model.confirm_replace = self.confirm_replace

        app = self.app_model
        self.data_page = DataPage(app, self.settings, self.tasks)
        self.train_page = TrainPage(app, self.settings)
        self.predict_page = PredictPage(app, self.settings)
        self.evaluate_page = EvaluatePage(app, self.tasks)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        for page, title in zip((self.data_page, self.train_page, self.predict_page,
                                self.evaluate_page), PAGE_TITLES, strict=True):
            self.tabs.addTab(page, title)
        self.setCentralWidget(self.tabs)

        self.model_label = QLabel()
        self.dataset_label = QLabel()
        self.mismatch_label = QLabel()
        self.mismatch_label.setStyleSheet("color: #b00020;")
        self.statusBar().addWidget(self.mismatch_label, 1)
        self.statusBar().addPermanentWidget(self.dataset_label)
        self.statusBar().addPermanentWidget(self.model_label)
        app.model_changed.connect(lambda _m: self._update_status())
        app.saved_changed.connect(lambda _m: self._update_status())
        app.dataset_changed.connect(lambda _d: self._update_status())
        app.dataset_changed.connect(self._offer_default_model)
        app.mismatch_changed.connect(self._show_mismatch)
        app.training_requested.connect(lambda _none: self.start_training())
        app.prediction_requested.connect(lambda _r: self.tabs.setCurrentWidget(self.predict_page))
        app.running_changed.connect(self._on_running_changed)
        quitting = QCoreApplication.instance()
        if quitting is not None:
            # Logging out or a terminated process: stop the run so its checkpoint is written.
            quitting.aboutToQuit.connect(self.end_session)

        self._build_menus()
        self._update_status()
        self.setMinimumSize(*MINIMUM_SIZE)
        geometry = self.settings.geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(self._first_size())
        self.tabs.setCurrentIndex(min(max(0, self.settings.current_page()), 3))

    def _first_size(self) -> QSize:
        """1280 x 820, or less on a smaller screen (the status bar must stay on it)."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            return QSize(1280, 820)
        room = screen.availableGeometry()
        return QSize(min(1280, room.width()), min(820, room.height() - 40))

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
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.save_action = self._action("&Save model", self.save_model_now,
                                        QKeySequence.StandardKey.Save)
        self.save_as_action = self._action("Save model &as…", self.save_model_dialog,
                                           QKeySequence.StandardKey.SaveAs)
        self.export_npz_action = self._action("&Weights (.npz + .json)…", self.export_npz_dialog)
        self.export_onnx_action = self._action("&ONNX (.onnx)…", lambda: (
            model_files.export_onnx_dialog(self, self.app_model, self.settings)))
        self.rename_classes_action = self._action("Rename &classes…", lambda: (
            rename_classes_dialog(self, self.app_model)))
        self.export_plot_action = self._action("Training &plot (PNG / CSV)…",
                                               self.export_plot_dialog)
        self.export_cm_action = self._action("&Confusion matrix (PNG / CSV)…",
                                             self.export_confusion_dialog)
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        for action in (self.save_action, self.save_as_action, self.rename_classes_action):
            file_menu.addAction(action)
        self.export_menu = file_menu.addMenu("&Export")
        for action in (self.export_onnx_action, self.export_npz_action, self.export_plot_action,
                       self.export_cm_action):
            self.export_menu.addAction(action)
        self.open_arch_action, self.save_arch_action = add_architecture_actions(self, file_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        view_menu = bar.addMenu("&View")
        for i, name in enumerate(PAGE_TITLES):
            view_menu.addAction(self._action(
                name, lambda _=False, i=i: self.tabs.setCurrentIndex(i), f"Ctrl+{i + 1}"))
        help_menu = bar.addMenu("&Help")
        self.getting_started_action = self._action("&Getting started", self.show_getting_started,
                                                   QKeySequence.StandardKey.HelpContents)
        help_menu.addAction(self.getting_started_action)
        help_menu.addAction(self._action("&About CNN Studio", self._about))

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_models()
        if not recent:
            action = self.recent_menu.addAction("(no recent models)")
            action.setEnabled(False)
        for path in recent:
            self.recent_menu.addAction(path, lambda p=path: self.open_model(p))

    # --- unsaved work ------------------------------------------------------------------------
    def confirm_replace(self, action: str) -> bool:
        """Save / Discard / Cancel before the unsaved current model is lost; True to go on."""
        model = self.app_model.model
        name = model.title() if model is not None else "the model"
        answer = QMessageBox.question(
            self, "Save the model?",
            f"The current model, {name}, is not saved.\nSave it before you {action}?",
            StandardButton.Save | StandardButton.Discard | StandardButton.Cancel,
            StandardButton.Save)
        if answer == StandardButton.Save:
            return self.save_model_now()
        return answer == StandardButton.Discard

    # --- model files -------------------------------------------------------------------------
    def open_model_dialog(self) -> None:
        if not self.app_model.may_replace_model("open another model"):
            return
        path, _ = QFileDialog.getOpenFileName(self, "Open model", str(start_dir(self.settings)),
                                              model_files.OPEN_FILTER)
        if path:
            self.open_model(path, asked=True)

    def open_model(self, path: str | Path, asked: bool = False) -> bool:
        """Open a model file as the current model (asking first about unsaved work)."""
        path = Path(path)
        if not asked and not self.app_model.may_replace_model("open another model"):
            return False
        try:
            trained = model_files.read_model_file(path)  # .pkl, .npz or .onnx
        except UnsafeModelError as exc:
            show_error(self, "Model refused", f"{exc}\n\nNothing in the file was run.")
            return False
        except (ValueError, OSError) as exc:
            if not path.exists():
                self.settings.remove_recent_model(path)
            show_error(self, "Cannot open model", str(exc))
            return False
        self.app_model.set_model(trained, path, origin=model_files.origin_of(path))
        self.settings.add_recent_model(path)
        remember_dir(self.settings, path)
        self.statusBar().showMessage(f"Opened {path}", 5000)
        return True

    def save_model_now(self) -> bool:
        path = self.app_model.model_path
        if path is not None and path.suffix == ".pkl" and self.app_model.unsaved:
            return self.save_model(path)
        if path is not None and path.suffix == ".pkl":
            return True  # nothing new to write
        return self.save_model_dialog()

    def save_model_dialog(self) -> bool:
        if not self._have_model():
            return False
        path, selected = QFileDialog.getSaveFileName(
            self, "Save model", suggested_path(self.settings, "model.pkl"), MODEL_FILTER)
        if not path:
            return False
        if not Path(path).suffix:
            path += ".npz" if "npz" in selected else ".pkl"
        return self.save_model(path)

    def export_npz_dialog(self) -> None:
        if not self._have_model():
            return
        path = self._export_path("Export weights", "model.npz", "NumPy arrays + JSON (*.npz)")
        if path:
            self.save_model(Path(path).with_suffix(".npz"))

    def save_model(self, path: str | Path) -> bool:
        path = Path(path)
        trained = self.app_model.trained
        if trained is None:
            return False
        try:
            if path.suffix.lower() == ".npz":
                written = [export_npz(trained, path)]
                written.append(Path(written[0]).with_suffix(".json"))
            else:
                written = [save_model(trained, path)]
            for file in written:
                if Path(file).is_file():
                    give_usual_permissions(file)
        except (ValueError, OSError) as exc:
            show_error(self, "Cannot save model", str(exc))
            return False
        remember_dir(self.settings, path)
        if path.suffix.lower() == ".pkl":
            self.app_model.mark_saved(path)
            self.settings.add_recent_model(path)
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    # --- exports -----------------------------------------------------------------------------
    def _export_path(self, title: str, name: str, filters: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self, title, suggested_path(self.settings, name),
                                              filters)
        if not path:
            return None
        remember_dir(self.settings, path)
        return path

    def export_plot_dialog(self) -> None:
        path = self._export_path("Export training plot", "training.png",
                                 "PNG image (*.png);;CSV data (*.csv)")
        if path is None:
            return
        try:
            if path.lower().endswith(".csv"):
                self.train_page.plot.export_csv(path)
            else:
                path = path if path.lower().endswith(".png") else path + ".png"
                self.train_page.plot.export_png(path)
            give_usual_permissions(path)
        except (ValueError, OSError) as exc:
            show_error(self, "Cannot export plot", str(exc))

    def export_confusion_dialog(self) -> None:
        if self.app_model.results is None:
            show_info(self, "Nothing to export", "Evaluate the current model on the current "
                      "dataset first (Evaluate page).")
            return
        path = self._export_path("Export confusion matrix", "confusion.png",
                                 "PNG image (*.png);;CSV table (*.csv)")
        if path is not None:
            self.export_confusion(path)

    def export_confusion(self, path: str | Path) -> bool:
        """Write the current results' confusion matrix (CSV, or the view as PNG)."""
        path = str(path)
        view = self.evaluate_page.confusion_view
        if self.app_model.results is None:
            return False
        try:
            if path.lower().endswith(".csv"):
                view.export_csv(path)
            else:
                path = path if path.lower().endswith(".png") else path + ".png"
                if not view.grab().save(path):
                    raise OSError(f"could not write {path}")
            give_usual_permissions(path)
        except (ValueError, OSError) as exc:
            show_error(self, "Cannot export confusion matrix", str(exc))
            return False
        return True

    # --- state -------------------------------------------------------------------------------
    def _have_model(self) -> bool:
        if self.app_model.trained is None:
            show_info(self, "No model", "Train a model or open one first.")
            return False
        return True

    def _update_status(self) -> None:
        app = self.app_model
        ds = app.dataset
        self.dataset_label.setText(f"Dataset: {ds.name}  ·" if ds is not None
                                   else "No dataset loaded  ·")
        model: CurrentModel | None = app.model
        if model is None:
            self.model_label.setText("Model: none")
        else:
            dirty = " — not saved" if not model.saved else ""
            self.model_label.setText(f"Model: {model.title()}{dirty}")
        has_model = model is not None
        for action in (self.save_action, self.save_as_action, self.export_npz_action,
                       self.export_onnx_action, self.rename_classes_action):
            action.setEnabled(has_model)
        self.setWindowTitle(app.title())

    def _show_mismatch(self, reason: str | None) -> None:
        self.mismatch_label.setText(f"⚠ The model does not fit the dataset: {reason}"
                                    if reason else "")
        self.mismatch_label.setToolTip(reason or "")

    def _offer_default_model(self, dataset) -> None:
        """Switching datasets also switches to that dataset's pretrained model, unless the
        current model is unsaved, fits the dataset already, or a run is going on."""
        app = self.app_model
        if dataset is None or app.unsaved or app.running:
            return
        if app.trained is not None and (trained_on(app.trained) == dataset.name
                                        or app.mismatch() is None):
            return
        path = default_model_path(dataset.name)
        if path is not None and path != app.model_path:
            self.open_model(path)

    def start_training(self) -> bool:
        """Start a run from the Data & model page's set-up, after asking about unsaved work."""
        if self.train_page.is_running():
            return False
        if not self.app_model.may_replace_model("train a new model"):
            return False
        self.tabs.setCurrentWidget(self.train_page)
        return self.train_page.start_training()

    def _on_running_changed(self, running: bool) -> None:
        self.open_action.setEnabled(not running)
        if not running and self._close_when_stopped:
            QTimer.singleShot(0, self.close)

    def show_getting_started(self) -> QMessageBox:
        box = show_info(self, "Getting started", GETTING_STARTED)
        box.setObjectName("gettingStarted")
        return box

    def _about(self) -> None:
        import engine

        show_info(self, "About CNN Studio",
                  f"CNN Studio {engine.__version__}\n\nConvolutional networks written from "
                  "scratch in NumPy: train them, draw on them, look inside them.")

    # --- closing -----------------------------------------------------------------------------
    def end_session(self) -> None:
        """The application is quitting (also on logout): a run is stopped and waited for,
        so its checkpoint is written and it can be resumed next time."""
        self.train_page.shutdown()
        self.tasks.wait_all()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.train_page.is_running():
            if not self._close_when_stopped:
                answer = QMessageBox.question(
                    self, "Training is running",
                    "Stop training and quit? A checkpoint is kept, so the run can be resumed "
                    "the next time CNN Studio starts.",
                    StandardButton.Yes | StandardButton.No, StandardButton.No)
                if answer != StandardButton.Yes:
                    event.ignore()
                    return
                self._close_when_stopped = True
                self.statusBar().showMessage("Stopping training and writing a checkpoint…")
                self.train_page.stop_training()
            event.ignore()  # closes when the worker reports that it has stopped
            return
        self._close_when_stopped = False
        if not self.app_model.may_replace_model("quit"):
            event.ignore()
            return
        self.settings.set_geometry(self.saveGeometry())
        self.settings.set_current_page(self.tabs.currentIndex())
        self.settings.sync()
        self.end_session()
        event.accept()
