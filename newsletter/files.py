"""Files and folders named on the command line: one set of checks, one-line errors.

Every command that reads a file the operator names opens it with ``open_input``: only
a regular file is read (a FIFO would hang the command, a device never ends), and any
failure is an ``InvalidInputError`` naming the path and the reason in the operating
system's words. Folder imports list their files with ``files_in``, which reports what
it cannot import (FIFOs, sockets, broken links, symlink loops) instead of skipping it.
Commands that write into a folder check it with ``output_folder`` first.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from newsletter.errors import InvalidInputError


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def open_input(path: Path) -> BinaryIO:
    """``path`` opened for reading in binary if it is a regular file, else why not.

    Opened without blocking (a FIFO would otherwise wait for a writer forever), then
    checked on the open file itself, so nothing can swap it in between.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read ({_reason(exc)})") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a FIFO or device)"
        raise InvalidInputError(f"{path}: cannot read ({kind})")
    os.set_blocking(descriptor, True)
    return os.fdopen(descriptor, "rb")


def read_input(path: Path) -> bytes:
    """The bytes of a regular file, or an ``InvalidInputError`` naming it (see ``open_input``)."""
    with open_input(path) as handle:
        try:
            return handle.read()
        except OSError as exc:
            raise InvalidInputError(f"{path}: cannot read ({_reason(exc)})") from None


def files_in(folder: Path, suffixes: tuple[str, ...]) -> tuple[list[Path], list[str]]:
    """Regular files under ``folder`` with one of ``suffixes`` (hidden ones aside), sorted,
    and one line for each entry with such a name that cannot be read as a file."""
    found: list[Path] = []
    problems: list[str] = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).parts
        if any(part.startswith(".") for part in relative):
            continue
        if path.suffix.lower() not in suffixes:
            continue
        try:
            mode = path.stat().st_mode  # follows links: a loop or a dangling one raises
        except OSError as exc:
            problems.append(f"{path}: cannot read ({_reason(exc)})")
            continue
        if stat.S_ISREG(mode):
            found.append(path)
        elif not stat.S_ISDIR(mode):
            problems.append(f"{path}: cannot read (not a regular file (a FIFO or device))")
    return found, problems


def output_folder(raw: str, *, parameter: str = "DIRECTORY") -> Path:
    """The folder named ``raw`` (as typed) if files can be written into it, else a
    one-line error. Nothing is left behind: folders made to find out are removed, and
    the command creates them when it writes.

    An empty name is refused rather than read as the current folder (``Path("")`` is
    ``.``): ``feeds export ""`` once wrote thousands of files where the shell stood.
    """
    if not raw.strip():
        raise InvalidInputError(
            f"{parameter}: name a folder to write into (use . for the current folder)"
        )
    path = Path(raw)
    if path.exists() and not path.is_dir():
        raise InvalidInputError(f"{parameter}: {path} exists and is not a folder")
    missing = []
    ancestor = path
    while not ancestor.exists() and ancestor != ancestor.parent:
        missing.append(ancestor)
        ancestor = ancestor.parent
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(f"{parameter}: cannot create {path} ({_reason(exc)})") from None
    finally:
        for made in missing:  # deepest first
            if made.is_dir():
                made.rmdir()
    if not missing and not os.access(path, os.W_OK | os.X_OK):
        raise InvalidInputError(f"{parameter}: cannot write into {path} (permission denied)")
    return path
