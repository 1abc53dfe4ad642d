"""CNN Studio's engine: convolutional networks written from scratch in NumPy.

NumPy only (plus the standard library); never imports Qt, matplotlib or Pillow at this level.
The public API is what this module exports; the app, the command line and tests use these names.
"""

from __future__ import annotations

__version__ = "0.1.0"

from engine import fast
from engine.spec import build_model as build_model
from engine.spec import list_presets as list_presets
from engine.spec import load_preset as load_preset
from engine.spec_error import SpecError as SpecError
from engine.threads import get_num_threads as get_num_threads
from engine.threads import set_num_threads as set_num_threads

# The speed-only paths register themselves with the readable network (which never imports
# them): Winograd as a Conv2D algorithm, the fused runs with Sequential.
fast.install()
