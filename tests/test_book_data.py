"""The book's printed outputs the tests read live in the repository (tests/book/), so the
README's test command passes from a clone alone; they must stay the team's numbers."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import BOOK, ROOT, book_cells

SHARED = ROOT.parent / "shared" / "book"


def test_the_book_data_is_inside_the_repository() -> None:
    if "STEPTRACE_BOOK_DIR" not in os.environ:
        assert BOOK == ROOT / "tests" / "book"
    for chapter in (3, 4, 5, 6):
        cells = book_cells(chapter)
        assert cells, chapter
        assert all(cell["chapter"] == chapter for cell in cells.values())
    assert book_cells(6)["ch06-streetlights-backprop"]["stdout"].startswith("Error:0.634231159844")


@pytest.mark.skipif(not SHARED.is_dir(), reason="no ../shared/book beside the repository to compare with")
@pytest.mark.parametrize("chapter", [3, 4, 5, 6])
def test_the_copy_equals_the_teams_data(chapter: int) -> None:
    ours = json.loads((ROOT / "tests" / "book" / f"ch{chapter:02d}.json").read_text())
    theirs = json.loads((SHARED / f"ch{chapter:02d}.json").read_text())
    assert ours == theirs
