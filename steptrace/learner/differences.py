"""How a learner's value differs from the book's, in words, when no known mistake explains it.

The learner still gets something to act on: a factor (``× 0.5 everywhere``), a sign, the
entries that differ and those that agree, or a mask (zeros where the book has numbers, as a
derivative or a relu would make).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from steptrace.defaults import DIGITS
from steptrace.engine.rules import Array

#: How many entries a description lists before it says "and N more".
LISTED = 6


def _entries(mask: np.ndarray[Any, Any]) -> str:
    where = [tuple(int(i) for i in index) for index in np.argwhere(mask)]
    names = [str(index[0]) if len(index) == 1 else str(index) for index in where[:LISTED]]
    more = f" and {len(where) - LISTED} more" if len(where) > LISTED else ""
    return ", ".join(names) + more


def how_it_differs(yours: Array, book: Array, rtol: float, atol: float) -> str:
    """One sentence on how ``yours`` differs from ``book`` (numbers agree within ``rtol``,
    ``atol``, as the check compares them)."""
    if yours.shape != book.shape:
        return f"yours has shape {yours.shape}, the book's {book.shape}"
    with np.errstate(all="ignore"):
        agree = np.isclose(yours, book, rtol=rtol, atol=atol, equal_nan=True)
        differ = ~agree
        if not (np.isfinite(yours).all() and np.isfinite(book).all()):
            return f"yours is not a finite number at entries {_entries(~np.isfinite(yours))}" \
                if not np.isfinite(yours).all() else "the book's value is not finite here"
        nonzero = book != 0
        if nonzero.any() and not yours[~nonzero].any():
            ratios = yours[nonzero] / book[nonzero]
            if np.allclose(ratios, ratios[0], rtol=1e-9, atol=0):
                factor = float(ratios[0])
                if factor == -1:
                    return "yours is the book's with the opposite sign, entry for entry"
                if factor == 0:
                    return "yours is 0 where the book's is not, everywhere"
                return (f"yours is the book's × {factor:.{DIGITS}g}, entry for entry (a factor of "
                        f"{factor:.{DIGITS}g} too many, or 1/{1 / factor:.{DIGITS}g} too few)")
        zeroed = differ & (yours == 0) & nonzero
        if differ.sum() and (zeroed == differ).all():
            return (f"yours is 0 where the book's is not, at entries {_entries(zeroed)} (a mask "
                    "the book does not apply here: a derivative, or a relu?)")
        kept = differ & (book == 0) & (yours != 0)
        if differ.sum() and (kept == differ).all():
            return (f"the book's is 0 where yours is not, at entries {_entries(kept)} (the book "
                    "applies a mask here that yours does not: relu's derivative?)")
        flipped = differ & np.isclose(yours, -book, rtol=rtol, atol=atol)
        if differ.sum() and (flipped == differ).all():
            return f"the sign differs at entries {_entries(flipped)}; the others agree"
        if agree.any():
            return (f"entries {_entries(differ)} differ; the other {int(agree.sum())} agree")
        return "every entry differs"
