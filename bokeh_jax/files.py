"""Writing results so that nothing is lost: atomic files and folders, output checks.

A file is written to a temporary name beside it and renamed over the target; a folder
(a checkpoint, an evaluation) is filled as a temporary sibling and swapped in only once
complete. A crash leaves the previous result, never half of a new one. What we create is
readable as the user's umask allows (``mkstemp``/``mkdtemp`` alone would make it owner-only).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from bokeh_jax.errors import UserError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_file(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Calls ``write(f)`` on a temporary file beside ``path``, then renames it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Writes ``text`` (UTF-8) to ``path`` atomically."""
    return write_file(path, lambda f: f.write(text.encode()))


@contextlib.contextmanager
def staged_folder(dst: str | os.PathLike) -> Iterator[Path]:
    """Yields an empty temporary sibling of ``dst``; on success it replaces ``dst``.

    On an exception the temporary folder is removed and ``dst`` is left as it was.
    """
    dst = Path(dst).absolute()
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.tmp-", dir=dst.parent))
    try:
        yield tmp
        umask = _umask()
        for p in [tmp, *tmp.rglob("*")]:
            p.chmod((0o777 if p.is_dir() else 0o666) & ~umask)
        if dst.exists():
            trash = dst.with_name(f".{dst.name}.old-{os.getpid()}")
            dst.rename(trash)
            tmp.rename(dst)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            tmp.rename(dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_can_write(folder: str | os.PathLike) -> Path:
    """Checks, before any long work, that ``folder`` can be created and written: creates it
    if needed, writes and removes a probe file, then removes what it created (the work
    creates it again when it writes). UserError naming the folder and the cause otherwise.
    Returns the folder, absolute."""
    folder = Path(folder).expanduser().absolute()
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".bokeh_jax-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UserError(f"{folder}: cannot write there ({e.strerror or e}); choose another "
                        "folder, or check its permissions and free space") from None
    finally:
        for p in created:  # deepest first; leave anything someone else put there meanwhile
            with contextlib.suppress(OSError):
                p.rmdir()
    return folder


def check_output_folder(path: str | os.PathLike, *,
                        replaceable: bool | Callable[[Path], bool] = False,
                        fix: str = "choose another output folder") -> Path:
    """Refuses an output path that is a file, or a non-empty folder we may not replace.

    ``replaceable``: True (e.g. ``--force``), or a test of the folder (e.g. "it holds an
    earlier evaluation"). ``fix`` ends the error message. Returns the absolute path.
    """
    path = Path(path).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: exists and is not a folder; choose another output path")
    if path.is_dir() and any(path.iterdir()):
        ok = replaceable(path) if callable(replaceable) else replaceable
        if not ok:
            raise UserError(f"{path}: folder is not empty; {fix}")
    return path
