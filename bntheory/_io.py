"""Atomic file writing: a reader sees the old file or the complete new one, never a half-written one."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

__all__ = ["publish_directory", "write_bytes_atomic", "write_text_atomic"]

#: Temporary files older than this are left over by a killed writer, never in use: the next write removes them.
_STALE_SECONDS = 3600.0


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically; see :func:`write_bytes_atomic`."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same directory and an atomic rename."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"path: {path} is a directory; give a file name such as {path / 'verify.json'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path.parent.glob(f".{path.name}.*.tmp"))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates the file private (0600); give it the mode a plain open() would (0666 & ~umask).
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def publish_directory(path: str | os.PathLike, files: Mapping[str, bytes]) -> Path:
    """Write `files` (name -> bytes) into the directory `path` as one unit.

    The files are written into a fresh sibling directory, which then takes the place of `path` by renames, so a
    reader never sees the new HTML next to an old JSON. A `path` that holds other files than these (a directory
    of the user's) is not replaced: each file is then written atomically on its own.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"path: {path} exists and is not a directory")
    if path.is_dir() and any(p.name not in files for p in path.iterdir()):
        for name, data in files.items():
            write_bytes_atomic(path / name, data)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path.parent.glob(f".{path.name}.*.tmpdir"))
    fresh = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmpdir"))
    try:
        for name, data in files.items():
            write_bytes_atomic(fresh / name, data)
        os.chmod(fresh, 0o777 & ~_umask())
        old = None
        if path.exists():
            old = path.parent / f".{path.name}.{os.getpid()}.old.tmpdir"
            os.replace(path, old)
        os.replace(fresh, path)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return path


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set back at once)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _remove_stale(paths) -> None:
    now = time.time()
    for p in paths:
        try:
            if now - p.stat().st_mtime > _STALE_SECONDS:
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        except OSError:  # another process removed or is using it: leave it
            continue
