"""What the app has loaded now, in plain Python (no Qt): the application model and the data it
hands across layers. Pages render from :class:`AppModel` and talk only to it."""

from gui.state.app_model import AppModel, TrainingSetup
from gui.state.current_model import CurrentModel, ModelOrigin
from gui.state.events import Event
from gui.state.results import EvaluationResult, RunResult
from gui.state.snapshot import TrainingSnapshot

__all__ = ["AppModel", "CurrentModel", "EvaluationResult", "Event", "ModelOrigin", "RunResult",
           "TrainingSetup", "TrainingSnapshot"]
