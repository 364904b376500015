"""How much steptrace reads before it refuses: memory stays bounded on any input.

A trace is read line by line, so its length is free; a single line is not (the header
holds the dataset, and a damaged or hostile file may have no newline at all). An
experiment file is read whole. A ``.gz`` trace is refused when it expands far more than
any trace does (a decompression bomb), before it is read to the end. Each limit is met
with one line naming it, and exit 2.
"""

from __future__ import annotations

MiB = 1 << 20

#: The longest line of a trace, its header (the dataset, the initial weights) included:
#: 256 MiB holds a dataset of 16 million numbers packed (16 hex digits each).
MAX_LINE = 256 * MiB
#: The largest data file an experiment or a trace names (a dataset by reference,
#: ``{file = "data.npy", sha256 = "..."}``): 256 MiB, as much as a trace's longest line,
#: 33 million numbers in a .npy. Read whole (to hash exactly the bytes parsed).
MAX_DATA_FILE = 256 * MiB
#: The largest experiment file (TOML or JSON): 128 MiB.
MAX_EXPERIMENT_FILE = 128 * MiB
#: How many bytes a ``.gz`` trace may expand to per compressed byte, checked as it is read
#: once it has expanded past ``GZIP_GRACE``. Traces compress 7-11 to 1; only a dataset of
#: zeros written packed comes near deflate's own limit (1032 to 1): such a trace is read
#: after ``gunzip``, which the message says.
MAX_GZIP_RATIO = 200
GZIP_GRACE = 16 * MiB
#: The most of what a traced script printed that its trace keeps (``steptrace trace``: the
#: header's ``printed``, its book view): 1 MiB of characters, each line's newline counted,
#: in whole lines (the script may print up to 8 MiB; the lines past this are counted, not
#: kept). The book's programs print up to 1,101 lines, 60 KB.
MAX_PRINTED = MiB


def size(limit: int) -> str:
    """``256 MiB``."""
    return f"{limit // MiB} MiB" if limit % MiB == 0 else f"{limit} bytes"
