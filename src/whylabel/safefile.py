"""Reading and writing files without surprises: bounded reads, complete-or-absent outputs.

Contract:
- `read_limited(path, limit=..., what=...)` returns the bytes of a regular file of at most `limit`
  bytes; a device, FIFO, directory or larger file raises `WhylabelError` with one line (so
  `--codebook /dev/zero` fails at once instead of filling memory).
- `output(path)` is a text (or binary) stream for an output file. `-` is stdout; a device, FIFO or
  socket (`/dev/null`, `/dev/full`, a pipe) is written directly; a regular file is written to a
  temporary `.NAME.PID.XXXX.part` beside it and renamed into place only when the block ends
  without an exception, so a reader never sees half a file. The folder must exist (none is
  created). Partial files left by a killed run of the same output are removed at the next start.
- `write_file(path, write)` is the same for writers that need a path (skops).
Every OS failure (a full disk, no permission) becomes one `OutputError` line naming the file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from .errors import WhylabelError

STDOUT = "-"
# Partial files of a dead run: removed when their process is gone, or (names without a process id)
# when older than this.
STALE_PART_SECONDS = 24 * 3600


class OutputError(WhylabelError):
    """An output file cannot be written (no folder, no permission, no space)."""


def describe_os_error(exc: OSError) -> str:
    """A short, lower-case reason for an OSError: 'no space left on device', 'permission denied'."""
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    reason = exc.strerror or type(exc).__name__
    return reason[:1].lower() + reason[1:]


def read_limited(path: str | Path, *, limit: int, what: str, error: type[WhylabelError] = WhylabelError) -> bytes:
    """The bytes of a regular file no larger than `limit`; anything else raises `error` (one line)."""
    name = str(path)
    try:
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block the open
    except FileNotFoundError:
        raise error(f"{name}: {what} not found") from None
    except IsADirectoryError:
        raise error(f"{name}: is a directory, not a {what}") from None
    except OSError as exc:
        raise error(f"{name}: cannot read {what} ({describe_os_error(exc)})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise error(f"{name}: is a directory, not a {what}")
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{name}: not a regular file (a device or pipe); a {what} must be a regular file")
        if info.st_size > limit:
            raise error(f"{name}: {what} is {info.st_size:,} bytes, more than the {_size(limit)} allowed")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise error(f"{name}: cannot read {what} ({describe_os_error(exc)})") from None
    if len(data) > limit:  # grew while we read
        raise error(f"{name}: {what} is more than the {_size(limit)} allowed")
    return data


def _size(n: int) -> str:
    return f"{n / 1e6:.0f} MB" if n >= 1e6 else f"{n:,} bytes"


_SYSTEM_DIRS = ("/dev/", "/proc/")


def is_special(path: str | Path) -> bool:
    """True for an existing device, FIFO or socket, and for anything named under /dev or /proc
    (`/dev/stdout` is a link that may lead to a regular file): written directly, never replaced."""
    name = os.path.abspath(str(path))
    if name.startswith(_SYSTEM_DIRS):
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def check_output_path(path: str | Path) -> None:
    """Refuse, before any work, an output that cannot be written: a folder, a missing folder."""
    name = str(path)
    if name == STDOUT or is_special(name):
        return
    p = Path(name)
    if p.is_dir():
        raise OutputError(f"{name}: is a directory; give a file name")
    parent = p.parent
    if not parent.exists():
        raise OutputError(f"{name}: folder {parent} does not exist (whylabel creates no folders)")
    if not parent.is_dir():
        raise OutputError(f"{name}: {parent} is not a folder")


def remove_stale_parts(target: Path) -> int:
    """Delete `.NAME.*.part` files a killed run of this output left behind; returns how many."""
    removed = 0
    prefix = f".{target.name}."
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return 0
    now = time.time()
    for entry in entries:
        if not (entry.name.startswith(prefix) and entry.name.endswith(".part")):
            continue
        middle = entry.name[len(prefix):-len(".part")]
        pid_match = re.match(r"(\d+)\.", middle)
        try:
            if pid_match:
                if _alive(int(pid_match.group(1))):
                    continue
            elif now - entry.stat(follow_symlinks=False).st_mtime < STALE_PART_SECONDS:
                continue
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed += 1
        except OSError:
            continue
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _temp_beside(target: Path) -> str:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".part", dir=target.parent)
    os.close(fd)
    try:  # a file being replaced keeps its permissions (a private export stays private)
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:  # mkstemp makes 0600; a new output is shared like any file
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(tmp, mode)
    return tmp


class _NamedStream:
    """A file object whose write errors name the file (a full disk mid-run is one clear line)."""

    def __init__(self, stream: IO, name: str):
        self._stream = stream
        self._name = name

    def write(self, data):  # noqa: ANN001, ANN201 - str or bytes, as the stream takes
        try:
            return self._stream.write(data)
        except OSError as exc:
            raise _output_error(self._name, exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise _output_error(self._name, exc) from None

    def __getattr__(self, attr: str):  # noqa: ANN204
        return getattr(self._stream, attr)


@contextlib.contextmanager
def _destination(name: str) -> Iterator[str]:
    """The path to write: `name` itself for a device, FIFO or socket; otherwise a temporary file
    beside it, renamed to `name` when the block ends without an exception (removed if it does not)."""
    check_output_path(name)
    if is_special(name):
        yield name
        return
    target = Path(os.path.realpath(name))  # through a symbolic link: replace the file it leads to
    with _as_output_error(name):
        remove_stale_parts(target)
        tmp = _temp_beside(target)
    try:
        yield tmp
        with _as_output_error(name):
            os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def output(path: str | Path, *, encoding: str | None = "utf-8", binary: bool = False) -> Iterator[IO]:
    """A stream that becomes `path` complete, or not at all; see the module contract."""
    name = str(path)
    if name == STDOUT:
        stream = _NamedStream(sys.stdout.buffer if binary else sys.stdout, "stdout")
        yield stream
        stream.flush()
        return
    mode, kwargs = ("wb", {}) if binary else ("w", {"encoding": encoding, "newline": ""})
    with _destination(name) as where:
        with _as_output_error(name):
            f = open(where, mode, **kwargs)
        try:
            yield _NamedStream(f, name)
        except BaseException:
            with contextlib.suppress(OSError):
                f.close()
            raise
        with _as_output_error(name):
            f.close()


def write_file(path: str | Path, write: Callable[[str], None]) -> None:
    """Call `write(a path)` so that `path` appears complete or not at all (for writers that take a path)."""
    name = str(path)
    with _destination(name) as where, _as_output_error(name):
        write(where)


@contextlib.contextmanager
def _as_output_error(name: str) -> Iterator[None]:
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        raise _output_error(name, exc) from None


def _output_error(name: str, exc: OSError) -> OSError | OutputError:
    if isinstance(exc, BrokenPipeError):  # the reader went away (`| head`): not the file's fault
        return exc
    return OutputError(f"{name}: cannot write ({describe_os_error(exc)})")
