"""The exceptions the data layer raises for problems a user can cause (and fix)."""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset file or folder cannot be used; the message names the file and the problem."""


class DatasetNotFound(DatasetError):  # noqa: N818 (the name is the contract's)
    """A named dataset is not on disk; the message says where it was looked for and what to do."""

    def __init__(self, message: str, name: str = "", looked_in: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.name = name
        self.looked_in = looked_in
