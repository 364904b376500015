"""Matrices in JSON: a dataset, initial weights, an event's numbers, written exactly.

A :class:`Matrix` is a read-only float64 array that a Pydantic model holds as a field
(an experiment's data and weights, a trace header's initial weights); it compares bit
for bit. Events hold their matrices as nested tuples (:mod:`steptrace.trace.events`), and
the emitter's records (:mod:`steptrace.trace.emitter`) as :func:`json_rows`. All are
written to JSON in one of two forms:

- **rows of numbers**, ``[[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]``, each float in its
  shortest round-tripping form: what a person writes and reads (the book's data);
- **packed**, for a matrix of more than :data:`PACK_ABOVE` numbers:
  ``{"shape": [1000, 784], "float64_le_hex": "..."}``, the array's IEEE-754 bytes
  (little-endian float64, row after row) in hexadecimal. Exact by construction, 16
  characters a number instead of about 19, and fast: CPython turns bytes into hex and
  back at about 1 GB/s, base64 at a third of that, and numbers into text and back at a
  tenth (an MNIST-sized dataset of 784,000 numbers: about 10 ms each way in hex, 15 ms
  to write and 30-45 ms to read in base64, 100 ms to write and 110 ms to read as text).

Both forms are read wherever a matrix is (experiment files, trace headers, events); the
packed one is a feature of trace schema 2 (:mod:`steptrace.trace`). Rows of numbers are
validated strictly (numbers only, no strings or booleans); every form must be
rectangular.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, StrictFloat
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

#: The arrays steptrace computes with (``steptrace.Array``, in :mod:`steptrace.engine.rules`).
Array = NDArray[np.float64]

#: Matrices of more numbers than this are written packed (nobody reads a thousand numbers
#: by eye; every matrix of the book's networks has fewer than 100).
PACK_ABOVE = 1000
PACKED_KEY = "float64_le_hex"
_LITTLE_F8 = np.dtype("<f8")


class Matrix:
    """A read-only 2-D float64 array, compared bit for bit (``-0.0 != 0.0``).

    ``array`` is the numbers; ``len``, indexing and iteration give rows as tuples of
    floats, as the nested tuples this replaced did.
    """

    __slots__ = ("array",)
    array: Array

    def __init__(self, values: Any) -> None:
        array = np.array(values, dtype=np.float64, order="C")  # always a copy of its own
        if array.ndim != 2:
            raise ValueError(f"a matrix has rows and columns; got {array.ndim} dimension(s)")
        array.flags.writeable = False
        self.array = array

    @classmethod
    def _of(cls, array: Array) -> Matrix:
        """Wrap an array that is already a private, read-only float64 2-D copy."""
        matrix = cls.__new__(cls)
        matrix.array = array
        return matrix

    @property
    def shape(self) -> tuple[int, int]:
        rows, cols = self.array.shape
        return rows, cols

    @property
    def packed(self) -> bool:
        """Whether JSON holds it packed (more than PACK_ABOVE numbers)."""
        return self.array.size > PACK_ABOVE

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, row: int) -> tuple[float, ...]:
        values: list[float] = self.array[row].tolist()
        return tuple(values)

    def __iter__(self) -> Iterator[tuple[float, ...]]:
        return (tuple(row) for row in self.array.tolist())

    def tolist(self) -> list[list[float]]:
        rows: list[list[float]] = self.array.tolist()
        return rows

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> Array:
        if dtype is not None and np.dtype(dtype) != np.float64:
            return self.array.astype(dtype)
        return self.array.copy() if copy else self.array

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Matrix):
            return NotImplemented
        return self.array.shape == other.array.shape and np.array_equal(
            self.array.view(np.uint64), other.array.view(np.uint64))

    def __hash__(self) -> int:
        return hash((self.array.shape, self.array.tobytes()))

    def __repr__(self) -> str:
        rows, cols = self.shape
        if self.packed:
            return f"Matrix({rows}×{cols})"
        return f"Matrix({self.tolist()!r})"

    # -- JSON --------------------------------------------------------------------------

    def to_json_value(self, packed: bool | None = None) -> list[list[float]] | dict[str, Any]:
        """Rows of numbers, or the packed form (by default: packed when large)."""
        if packed is None:
            return json_rows(self.array)
        return pack(self.array) if packed else self.tolist()

    @classmethod
    def _from_rows(cls, rows: tuple[tuple[float, ...], ...]) -> Matrix:
        if not rows:
            return cls._of(np.zeros((0, 0)))
        width = len(rows[0])
        for r, row in enumerate(rows):
            if len(row) != width:
                raise ValueError(f"row [{r}] has {len(row)} value(s), row [0] has {width}: "
                                 "every row needs the same length")
        return cls(rows)

    @classmethod
    def _validate(cls, value: Any, rows: core_schema.ValidatorFunctionWrapHandler) -> Matrix:
        if isinstance(value, Matrix):
            return value
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "fiu":
                raise ValueError(f"a matrix holds numbers, not {value.dtype}")
            return cls(value)
        if isinstance(value, dict):
            return cls._of(unpack(value))
        return cls._from_rows(rows(value))  # strict numbers, errors located row and column

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_wrap_validator_function(
            cls._validate,
            handler.generate_schema(tuple[tuple[StrictFloat, ...], ...]),
            serialization=core_schema.plain_serializer_function_ser_schema(
                _serialize, info_arg=True),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return matrix_json_schema()


def matrix_json_schema() -> JsonSchemaValue:
    """A matrix in JSON: rows of numbers, or packed."""
    rows = {"type": "array", "items": {"type": "array", "items": {"type": "number"}},
            "description": "rows of numbers"}
    packed = {"type": "object", "additionalProperties": False,
              "required": ["shape", PACKED_KEY],
              "description": f"packed (matrices of more than {PACK_ABOVE} numbers): the "
              "IEEE-754 bytes of the numbers, little-endian float64, row after row, in hex",
              "properties": {
                  "shape": {"type": "array", "items": {"type": "integer", "minimum": 0},
                            "minItems": 2, "maxItems": 2},
                  PACKED_KEY: {"type": "string", "contentEncoding": "base16"}}}
    return {"anyOf": [rows, packed]}


def json_rows(array: Array) -> list[list[float]] | dict[str, Any]:
    """A 2-D float64 array as JSON: rows of numbers, or packed when it holds more than
    :data:`PACK_ABOVE` numbers (what the emitter puts in an event's record)."""
    if array.size > PACK_ABOVE:
        return pack(array)
    rows: list[list[float]] = array.tolist()
    return rows


def json_ones(shape: tuple[int, ...]) -> list[list[float]] | dict[str, Any]:
    """:func:`json_rows` of a matrix of ones (a linear layer's derivative), built directly."""
    rows, width = shape
    if rows * width > PACK_ABOVE:
        return pack(np.ones((rows, width)))
    return [[1.0] * width] * rows


def pack(array: Array) -> dict[str, Any]:
    """The packed form of a 2-D float64 array."""
    data = binascii.b2a_hex(array.astype(_LITTLE_F8, copy=False).tobytes())
    return {"shape": list(array.shape), PACKED_KEY: data.decode("ascii")}


def unpack(value: dict[str, Any]) -> Array:
    """The read-only array a packed form holds; ValueError saying what is wrong."""
    if set(value) != {"shape", PACKED_KEY}:
        raise ValueError(f'a packed matrix is {{"shape": [rows, columns], "{PACKED_KEY}": '
                         f'"..."}}; got the keys {sorted(map(str, value))}')
    shape, data = value["shape"], value[PACKED_KEY]
    if not (isinstance(shape, list | tuple) and len(shape) == 2
            and all(type(n) is int and n >= 0 for n in shape)):
        raise ValueError(f"a packed matrix's shape is [rows, columns]; got {shape!r:.60}")
    if not isinstance(data, str):
        raise ValueError(f"a packed matrix's {PACKED_KEY} is a string of hexadecimal digits")
    try:
        raw = binascii.a2b_hex(data)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"a packed matrix's {PACKED_KEY} is not hexadecimal ({error})") from None
    rows, cols = shape
    if len(raw) != rows * cols * 8:
        raise ValueError(f"a packed {rows}×{cols} matrix holds {rows * cols * 8} bytes; "
                         f"this one holds {len(raw)}")
    array = np.frombuffer(raw, dtype=_LITTLE_F8).reshape(rows, cols).astype(np.float64)
    array.flags.writeable = False
    return array


def _serialize(matrix: Matrix, info: core_schema.SerializationInfo) -> Any:
    return matrix.to_json_value() if info.mode_is_json() else matrix.tolist()
