"""Run one slow function (load a dataset, evaluate a model) on a QThread and report back.

The function runs in the worker thread and must not touch widgets; it may call the
``progress(fraction, message)`` callback it is given, which is forwarded as a signal.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from gui.qt_compat import emit


def is_expected(exc: BaseException) -> bool:
    """Errors a user can cause (a bad file, a full disk): said in a message, no traceback."""
    return isinstance(exc, ValueError | OSError | MemoryError)


def error_text(exc: BaseException) -> str:
    """A message a user can read: the message alone for errors they can cause, more for bugs."""
    if is_expected(exc):
        return str(exc) or type(exc).__name__
    detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return f"Unexpected error: {detail}"


class TaskWorker(QObject):
    progress = Signal(float, str)
    result = Signal(object)
    failed = Signal(str)
    finished = Signal()

    def __init__(self, fn: Callable[[Callable[[float, str], None]], Any]):
        super().__init__()
        self._fn = fn

    @Slot()
    def run(self) -> None:
        try:
            value = self._fn(self._report)
        except Exception as exc:
            if not is_expected(exc):
                traceback.print_exc()
            emit(self.failed, error_text(exc))
        else:
            emit(self.result, value)
        finally:
            # Back to the GUI thread, where the runner deletes it (see TrainingWorker._go_home).
            app = QCoreApplication.instance()
            if app is not None and self.thread() is not app.thread():
                self.moveToThread(app.thread())
            emit(self.finished)

    def _report(self, fraction: float, message: str = "") -> None:
        emit(self.progress, float(fraction), str(message))


class TaskRunner(QObject):
    """Owns the threads of running tasks so they outlive the call that started them."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._running: dict[QThread, TaskWorker] = {}

    def start(
        self,
        fn: Callable[[Callable[[float, str], None]], Any],
        on_result: Callable[[Any], None],
        on_failed: Callable[[str], None],
        on_progress: Callable[[float, str], None] | None = None,
    ) -> TaskWorker:
        thread = QThread(self)
        worker = TaskWorker(fn)
        worker.moveToThread(thread)
        # Results are delivered through queued connections to slots living in the GUI thread.
        worker.result.connect(on_result)
        worker.failed.connect(on_failed)
        if on_progress is not None:
            worker.progress.connect(on_progress)
        thread.started.connect(worker.run)
        worker.finished.connect(thread.quit)
        thread.finished.connect(lambda: self._forget(thread))
        self._running[thread] = worker
        thread.start()
        return worker

    def busy(self) -> bool:
        return bool(self._running)

    def wait_all(self, msecs: int = 30000) -> None:
        for thread in list(self._running):
            thread.quit()
            thread.wait(msecs)

    def _forget(self, thread: QThread) -> None:
        worker = self._running.pop(thread, None)
        if worker is not None:
            worker.deleteLater()
        thread.deleteLater()
