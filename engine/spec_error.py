"""Why a spec was refused, as data: the layer and the field at fault beside the message.

:func:`engine.spec.build_model` raises :class:`SpecError`; front ends show ``str(error)``
and may point at ``error.layer`` / ``error.field`` (the architecture editor marks the layer)
without reading the message. Both are ``ValueError`` subclasses, so callers that catch
``ValueError`` keep working.
"""

from __future__ import annotations


class FieldError(ValueError):
    """A layer dict's value refused; ``field`` is its key ("filters", "pool_size", ...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class SpecError(ValueError):
    """A spec refused by ``build_model``.

    ``str(error)`` is the one-line message users see, e.g. ``layer 4 (maxpool2d): input 3x3
    is smaller than the 4x4 pool``. ``layer``: 1-based index of the layer at fault, or None
    when the problem is the spec as a whole (its output does not fit the classes, it has no
    layers). ``layer_type``: that layer's type when it is a known one. ``field``: the key of
    the layer dict at fault, when one is (None for a problem with the layer's input).
    """

    def __init__(self, message: str, layer: int | None = None, layer_type: str | None = None,
                 field: str | None = None) -> None:
        super().__init__(message)
        self.layer = layer
        self.layer_type = layer_type
        self.field = field
