"""Files written whole or not at all, with the user's umask, and the leftovers of killed writes.

Every file CNN Studio writes (models, checkpoints, exports, CSV, JSON, PNG) goes through a
temporary file named ``.<name>.<pid>.<8 random characters>.tmp`` in the target's folder and a
rename,
so a crash, ``kill -9`` or full disk leaves either the old file or the new one, never half of
one. A process killed mid-write leaves its temporary file behind; :func:`remove_stale_temps`
removes those of our own naming pattern when the next run starts, unless the process that
made them (the pid in the name) is still running.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process umask (read without changing it for other threads for longer than a call)."""
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename; the
    file gets the permissions a plain ``open(path, "w")`` would (0o666 minus the umask)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=".tmp",
                                   dir=path.parent)
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes it private (0o600)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _write_error(path, exc) from None
        raise
    _fsync_dir(path.parent)


def _write_error(path: Path, exc: OSError) -> OSError:
    """The same kind of error, naming the file the user asked for, not our temporary file."""
    reason = exc.strerror.lower() if exc.strerror else (str(exc) or "error")
    return type(exc)(f"cannot write {path}: {reason} (the previous file, if any, is unchanged)")


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """:func:`atomic_write_bytes` of ``text`` encoded (an un-encodable text writes nothing)."""
    atomic_write_bytes(path, text.encode(encoding))


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not available on every platform, and not needed for the
    # "old or new, never half" guarantee, so failures are ignored.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def temp_prefix(name: str) -> str:
    """The start of the temporary names this process uses for a target called ``name``."""
    return f".{name}.{os.getpid()}."


def temp_pattern(name: str | None = None) -> re.Pattern[str]:
    """The names :func:`temp_prefix` + 8 random characters + ``.tmp`` (a temporary file, or a
    ``tempfile.mkdtemp`` folder named the same way) give a target called ``name`` (any name
    if None); group "pid" is the writer's process id (absent in names from before it was)."""
    target = re.escape(name) if name is not None else r"[^/]+"
    return re.compile(rf"\.{target}\.(?:(?P<pid>\d+)\.)?[A-Za-z0-9_]{{8}}\.tmp")


def _writer_alive(pid: str | None) -> bool:
    if pid is None:
        return False
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's live process, or a number we cannot check: leave it
    return True


def remove_stale_temps(folder: str | os.PathLike, names: Iterable[str] | None = None
                       ) -> list[Path]:
    """Remove the temporary files (or folders) left by killed writes of ``names`` (any name if
    None) in ``folder``; a temporary of a process still running is left alone. Returns what
    was removed. Errors (a folder that is not there or not writable) are ignored: the next
    write reports them."""
    folder = Path(folder)
    patterns = [temp_pattern(name) for name in names] if names is not None else [temp_pattern()]
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = next((m for p in patterns if (m := p.fullmatch(entry.name))), None)
        if match is None or _writer_alive(match.group("pid")):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
    return removed


def check_writable_folder(folder: str | os.PathLike, what: str) -> None:
    """Raise OSError with one clear line unless files can be created in ``folder`` (made if
    missing): a parent that is a file, a read-only folder, ..."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(f"{what}: {folder} is a file, not a folder") from None
    except OSError as exc:
        raise OSError(f"{what}: cannot create the folder {folder} "
                      f"({exc.strerror or 'error'})") from None
    if not folder.is_dir():
        raise NotADirectoryError(f"{what}: {folder} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-check.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OSError(f"{what}: cannot write in {folder} ({exc.strerror or 'error'})") from None
    os.close(fd)
    os.unlink(probe)
