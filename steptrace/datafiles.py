"""A dataset by reference: an experiment's matrix kept in a file of its own, named with
its sha256.

An experiment file (or a trace's header) may give ``inputs``, ``goals``, ``test_inputs``
or ``test_goals`` as ``{file = "mnist-inputs.npy", sha256 = "..."}`` instead of the
numbers. The file is a ``.npy`` (a 2-D array of floats, read without pickle), a ``.csv``
(numbers only, one row per sample, no header line) or a ``.json`` (a list of rows); its
path is relative to the directory of the file that names it (the experiment file, or the
trace), or absolute; the sha256 is of the file's bytes. :func:`read_data_file` reads it
once, whole and bounded (:data:`~steptrace.limits.MAX_DATA_FILE`), checks the hash of the
bytes it read and parses those same bytes: the rows are exactly what the same numbers
written inline give, bit for bit. Anything wrong (no such file, another hash, not a
regular file, not numbers) is a :class:`~steptrace.errors.DataFileError`: one line,
exit 2.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydantic_core

from steptrace.errors import DataFileError, control_character
from steptrace.limits import MAX_DATA_FILE, size
from steptrace.matrices import Array, Matrix

#: The fields of an experiment that may be given by reference.
DATA_FIELDS = ("inputs", "goals", "test_inputs", "test_goals")
#: The kinds of data file, by their name's ending.
FORMATS = (".npy", ".csv", ".json")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_NONFINITE = re.compile(r"^[+-]?(?:nan|inf|infinity)$", re.IGNORECASE)
_NPY_MAGIC = b"\x93NUMPY"


def is_reference(value: Any) -> bool:
    """Whether a matrix field's value names a file (``{file = ..., sha256 = ...}``)."""
    return isinstance(value, Mapping) and "file" in value


@dataclass(frozen=True)
class DataFile:
    """A matrix by reference: ``file`` as written where it is named (relative to that
    file's directory, or absolute), its ``sha256`` (of the file's bytes, lowercase hex),
    and ``path``, where it was found (``file`` joined to that directory)."""

    file: str
    sha256: str
    path: Path

    def reference(self) -> dict[str, str]:
        """The reference as an experiment file or a trace writes it."""
        return {"file": self.file, "sha256": self.sha256}

    def named_from(self, directory: Path | None) -> DataFile:
        """The same file named from ``directory`` (a trace's; None: the current directory,
        a trace's in memory): its path relative to that directory, or absolute if it was
        written so (or is on another drive)."""
        if Path(self.file).is_absolute():
            return self
        start = os.path.abspath(directory if directory is not None else os.curdir)
        try:
            relative = os.path.relpath(os.path.abspath(self.path), start)
        except ValueError:  # another drive (Windows): no relative path
            relative = os.path.abspath(self.path)
        return DataFile(Path(relative).as_posix(), self.sha256, self.path)


def sha256_of(path: Path) -> str:
    """The sha256 of a data file's bytes, as its reference gives it (read as a data file
    is: a regular file, bounded); DataFileError when it cannot be read."""
    return hashlib.sha256(_read_bytes(path)).hexdigest()


def reference_of(field: str, value: Mapping[str, Any], directory: Path | None) -> DataFile:
    """A reference as written (``{file, sha256}``), checked for its form, its path joined
    to ``directory`` (None: the current directory); ValueError saying what is wrong. A
    reference without its sha256 is told the file's, to paste."""
    keys = set(value)
    if not keys <= {"file", "sha256"}:
        extra = sorted(map(str, keys - {"file", "sha256"}))
        raise ValueError(f"{field}: a data file is given as {{file = \"data.npy\", sha256 = "
                         f"\"...\"}}; {extra} is not one of its keys")
    file = value["file"]
    if not isinstance(file, str) or not file or len(file) > 4096 or \
            control_character(file) is not None or "\x00" in file:
        raise ValueError(f"{field}: file must be a path (text, at most 4096 characters, no "
                         "control characters)")
    path = Path(os.path.normpath(file if directory is None else directory / file))
    digest = value.get("sha256")
    if digest is None:
        try:
            found = f": the file's is sha256 = \"{sha256_of(path)}\" (check it is the data you mean)"
        except DataFileError:
            found = f" (sha256sum {path} prints it)"
        raise ValueError(f"{field}: the data file {file} needs its sha256, so that a changed "
                         f"file is noticed{found}")
    if not isinstance(digest, str) or not _SHA256.match(digest):
        raise ValueError(f"{field}: sha256 must be 64 hexadecimal digits (sha256sum prints it), "
                         f"not {digest!r:.80}")
    return DataFile(file, digest.lower(), path)


def read_data_file(field: str, data_file: DataFile, named_by: str) -> Array:
    """The matrix in ``data_file`` (2-D float64, read-only), after checking that its bytes
    have the sha256 the reference gives; ``named_by`` says where the reference is written
    (``the experiment``, ``the trace``), for the message when they do not. DataFileError,
    in one line naming the file, when it is missing, changed, not a regular file, too
    large, or not a matrix of numbers."""
    where = f"{field}: data file {data_file.path}"
    try:
        raw = _read_bytes(data_file.path)
    except DataFileError as error:
        raise DataFileError(f"{field}: {error} (sha256 {data_file.sha256})") from None
    found = hashlib.sha256(raw).hexdigest()
    if found != data_file.sha256:
        fix = ("restore the file the trace was recorded with, or record it again"
               if named_by == "the trace" else
               f"restore the file, or if the change is meant, put its new sha256 in {named_by}")
        raise DataFileError(f"{where} has changed: {named_by} gives sha256 {data_file.sha256}, "
                            f"the file's is {found}; {fix}")
    suffix = data_file.path.suffix.lower()
    try:
        if suffix == ".npy":
            array = _npy(raw)
        elif suffix == ".csv":
            array = _csv(raw)
        elif suffix == ".json":
            array = _json(raw)
        else:
            raise ValueError(f"is not a {', '.join(FORMATS[:-1])} or {FORMATS[-1]} file: name "
                             "it for what it holds")
    except ValueError as error:
        raise DataFileError(f"{where}: {error}") from None
    array.flags.writeable = False
    return array


def _read_bytes(path: Path) -> bytes:
    """A regular file's bytes, at most MAX_DATA_FILE of them; a directory, a device, a
    FIFO or a socket is refused without reading (or waiting for) anything. A symbolic link
    is followed (the hash is of the bytes it leads to)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | \
        getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(path, flags)  # (non-blocking: opening a FIFO does not wait)
    except FileNotFoundError:
        raise DataFileError(f"data file {path}: no such file") from None
    except IsADirectoryError:
        raise DataFileError(f"data file {path}: is a directory, not a data file") from None
    except OSError as error:
        raise DataFileError(f"data file {path}: cannot read: {error.strerror or error}") from None
    try:
        mode = os.fstat(descriptor)
        if stat.S_ISDIR(mode.st_mode):
            raise DataFileError(f"data file {path}: is a directory, not a data file")
        if not stat.S_ISREG(mode.st_mode):
            raise DataFileError(f"data file {path}: not a regular file (a device, a FIFO or a "
                                "socket): give a .npy, .csv or .json file")
    except BaseException:
        os.close(descriptor)
        raise
    with os.fdopen(descriptor, "rb", buffering=0) as file:
        if mode.st_size > MAX_DATA_FILE:
            raise DataFileError(f"data file {path}: larger than {size(MAX_DATA_FILE)}, the most a "
                                "data file may be")
        try:
            chunks, total = [], 0
            while chunk := file.read(min(1 << 24, MAX_DATA_FILE + 1 - total)):
                chunks.append(chunk)
                total += len(chunk)
                if total > MAX_DATA_FILE:
                    raise DataFileError(f"data file {path}: larger than {size(MAX_DATA_FILE)}, "
                                        "the most a data file may be")
        except OSError as error:
            raise DataFileError(f"data file {path}: cannot read: {error.strerror or error}") from None
    return b"".join(chunks)


def _npy(raw: bytes) -> Array:
    """A .npy file's 2-D float array as float64 (exact: every float type numpy keeps in a
    .npy of at most 64 bits widens exactly); its header read as numpy's format defines it,
    never unpickled, and its size checked against the bytes before anything is made."""
    if not raw.startswith(_NPY_MAGIC):
        raise ValueError("not a .npy file (numpy.save writes one)")
    stream = io.BytesIO(raw)
    try:
        major, _ = np.lib.format.read_magic(stream)
        read_header = (np.lib.format.read_array_header_1_0 if major == 1
                       else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read_header(stream)
    except (ValueError, SyntaxError, TypeError, EOFError, OSError, RecursionError) as error:
        raise ValueError(f"not a .npy file numpy reads: {error}") from None
    if dtype.hasobject:
        raise ValueError("holds Python objects (a pickled array), which steptrace never "
                         "unpickles: save an array of floats")
    if dtype.kind != "f" or dtype.itemsize > 8 or dtype.fields is not None:
        raise ValueError(f"holds {dtype}, not floats: save it as floats "
                         "(numpy.save(path, array.astype(numpy.float64)))")
    if len(shape) != 2:
        raise ValueError(f"holds a {len(shape)}-D array of shape {tuple(shape)}; a data file "
                         "holds a 2-D one, one row per sample (array.reshape(len(array), -1))")
    rows, cols = shape
    offset = stream.tell()
    if len(raw) - offset != rows * cols * dtype.itemsize:
        raise ValueError(f"its header says {rows}×{cols} {dtype} numbers "
                         f"({rows * cols * dtype.itemsize} bytes); it holds {len(raw) - offset} "
                         "bytes of data: the file is cut or damaged")
    flat = np.frombuffer(raw, dtype=dtype, count=rows * cols, offset=offset)
    shaped = flat.reshape((rows, cols), order="F" if fortran else "C")
    return np.ascontiguousarray(shaped, dtype=np.float64)


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"not a text file (a {what} data file is UTF-8 text)") from None


def _csv(raw: bytes) -> Array:
    """A CSV file of numbers, one row per line (blank lines skipped), each value a number
    as a TOML or JSON file writes one (or nan, inf: refused as the inline form refuses
    them, naming the row and column)."""
    rows: list[list[float]] = []
    width = 0
    for number, line in enumerate(_text(raw, "CSV").splitlines(), start=1):
        if not line.strip():
            continue
        row = []
        for column, cell in enumerate(line.split(","), start=1):
            text = cell.strip()
            if not (_NUMBER.match(text) or _NONFINITE.match(text)):
                raise ValueError(f"line {number}, value {column}: {text!r:.40} is not a number "
                                 "(a CSV data file holds numbers only, one row per sample, no "
                                 "header line)")
            row.append(float(text))
        if rows and len(row) != width:
            raise ValueError(f"line {number} has {len(row)} value(s), the first row {width}: "
                             "every row needs the same length")
        width = len(row)
        rows.append(row)
    if not rows:
        raise ValueError("holds no rows")
    return np.array(rows, dtype=np.float64)


def _json(raw: bytes) -> Array:
    """A JSON file holding a list of rows of numbers, read as an experiment file's inline
    rows are (the same parser, the same strict numbers)."""
    from pydantic import TypeAdapter, ValidationError

    text = _text(raw, "JSON")
    try:
        data = pydantic_core.from_json(text)
    except ValueError as error:
        raise ValueError(f"not valid JSON ({error})") from None
    if not isinstance(data, list) or not data:
        raise ValueError("a JSON data file holds a list of rows: [[1, 0, 1], [0, 1, 1]]")
    try:
        matrix = TypeAdapter(Matrix).validate_python(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = "".join(f"[{part}]" for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise ValueError(f"{where + ': ' if where else ''}{message} (a JSON data file holds a "
                         "list of rows of numbers)") from None
    return matrix.array.copy()
