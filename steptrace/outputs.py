"""Writing a file whole, or not at all, and never anywhere but where it was asked.

Every file steptrace writes (a trace, a page, a picture) goes through :func:`atomic_write`:

- the output is refused (exit 2) when it names something that is not a regular file
  (``/dev/null``, a directory, a pipe), a symbolic link, or one of the command's own
  inputs (``record mine.toml -o mine.toml``): a command never replaces what it reads;
- the bytes go to a new hidden temporary file beside the target, created with
  ``O_EXCL | O_NOFOLLOW`` under a random name (:func:`tempfile.mkstemp`), so a link
  planted there is never followed;
- on success the file is flushed and renamed over the target (keeping an existing
  file's permissions). When it replaces a file, it is first ``fsync``-ed, so that even a
  power failure leaves the old file or the new one, whole; a new file is not (nothing older
  can be lost, and the operating system writes it out in its own time: after a power
  failure it may be cut short, which every reader of a trace refuses as truncated; the
  ``fsync`` cost a B1 recording as much as its whole training on a busy disk); on any
  error or interruption (SIGTERM included) the temporary file is removed. A full disk is one line
  (:class:`~steptrace.errors.CannotWrite`, exit 2) and leaves nothing behind;
- while the file is being finished (written out, renamed, or removed), Ctrl-C and SIGTERM
  wait (:func:`signals_deferred`), so no signal leaves a torn file or a stray temporary one.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found,unused-ignore]  # (no stub: see handling)
import errno
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from steptrace.errors import BadInput, CannotWrite, Terminated


def check_output(target: Path, inputs: Sequence[Path] = ()) -> None:
    """Refuse an output that is not a (new or existing) regular file, or is an input. A
    symbolic link is refused too, whatever it points to: renaming over it would replace
    the link (``-o /dev/stdout`` would replace the system's /dev/stdout with a file)."""
    try:
        info = target.lstat()
    except FileNotFoundError:
        info = None
    except OSError as error:
        raise BadInput(f"{target}: cannot write there: {error.strerror or error}") from None
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise BadInput(f"{target}: is a symbolic link (to {os.readlink(target)}): give the "
                       "name of the file itself to write, or a new one")
    if info is not None and not stat.S_ISREG(info.st_mode):
        what = ("a directory" if stat.S_ISDIR(info.st_mode)
                else "not a regular file (a device, a pipe or a socket)")
        raise BadInput(f"{target}: is {what}: give the name of a file to write (-o FILE)")
    for source in inputs:
        if _same_file(source, target):
            raise BadInput(f"{target}: is also the input {source}: writing it would replace what "
                           "is being read; give another -o")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def _permissions(target: Path) -> int:
    """What ``open()`` would have left: an existing file's own permissions (a private
    0o600 trace stays private), a new one's 0o666 less the umask (mkstemp makes 0o600)."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


@contextmanager
def atomic_write(target: Path, inputs: Sequence[Path] = ()) -> Iterator[IO[bytes]]:
    """A binary file to write ``target``'s bytes to; it becomes ``target`` when the block
    ends normally, and is removed, leaving ``target`` as it was, when it does not (an
    OSError in the block, a full disk say, becomes :class:`CannotWrite`)."""
    check_output(target, inputs)
    temporary: Path | None = None
    with sigterm_raises():
        try:
            with signals_deferred():  # a signal now would leave a temporary file: it waits
                file, temporary = create_temporary(target)
            with file:
                yield file
                finish(file, temporary, target)
        except OSError as error:  # writing it failed (a full disk): one line, nothing left
            if temporary is not None:
                discard(temporary)
            raise cannot_write(target, error) from None
        except BaseException:
            if temporary is not None:
                discard(temporary)
            raise


def create_temporary(target: Path) -> tuple[IO[bytes], Path]:
    """A new, empty, hidden temporary file beside ``target``: ``.NAME.RANDOM.tmp``."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                    dir=target.parent if str(target.parent) else ".")
    except OSError as error:
        raise cannot_write(target, error) from None
    # 64 KiB, not the default 8: a trace's header holding a dataset is one line of megabytes.
    return os.fdopen(fd, "wb", buffering=1 << 16), Path(name)


def finish(file: IO[bytes], temporary: Path, target: Path) -> None:
    """Flush ``file`` and rename it over ``target`` (signals wait meanwhile); when it
    replaces a file, it goes to the disk first (``fsync``), so the old one is never lost for
    a new one still in the operating system's cache."""
    with signals_deferred():
        try:
            file.flush()
            if os.path.lexists(target):
                os.fsync(file.fileno())
            os.chmod(temporary, _permissions(target))
            os.replace(temporary, target)
        except OSError as error:
            raise cannot_write(target, error) from None


def discard(temporary: Path) -> None:
    """Remove a temporary file that will not be renamed into place (signals wait)."""
    with signals_deferred():
        temporary.unlink(missing_ok=True)


def cannot_write(target: Path | str, error: OSError) -> CannotWrite:
    reason = error.strerror or str(error)
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        reason += " (free some space, or write elsewhere with -o; nothing was left behind)"
    return CannotWrite(f"{target}: cannot write: {reason}")


#: The signals that stop steptrace: Ctrl-C and SIGTERM (``kill PID``).
STOPPING = (signal.SIGINT.value, signal.SIGTERM.value)


@contextmanager
def handling(numbers: Iterable[int], handler: Callable[[int, Any], None]) -> Iterator[None]:
    """``handler`` for the signals ``numbers`` in the block, the previous handlers after it.
    A signal that is ignored stays ignored; outside the main thread (where Python handles
    no signal) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # (signal.signal and signal.getsignal are _signal's, with every handler turned into an
    # enum on the way, by an exception raised and caught for a Python handler: 10-15 µs a
    # call, 24 calls a recording, half a millisecond: a tenth of B1's bare loop)
    previous = {number: _signal.signal(number, handler) for number in numbers
                if _signal.getsignal(number) != _signal.SIG_IGN}
    try:
        yield
    finally:
        for number, handler_before in previous.items():
            _signal.signal(number, _signal.SIG_DFL if handler_before is None else handler_before)


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM raises :class:`~steptrace.errors.Terminated` in the block, as Ctrl-C raises
    KeyboardInterrupt, so that a file being written is removed rather than left behind."""

    def terminate(signum: int, frame: Any) -> None:
        raise Terminated()

    with handling((signal.SIGTERM.value,), terminate):
        yield


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM that arrive in the block take effect after it, handled by the
    handlers that were in place."""
    pending: list[int] = []
    try:
        with handling(STOPPING, lambda signum, frame: pending.append(signum)):
            yield
    finally:
        for number in dict.fromkeys(pending):
            signal.raise_signal(number)
