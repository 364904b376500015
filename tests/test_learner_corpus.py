"""110 learners' scripts that nobody who wrote the check wrote: ``steptrace check`` is right
on every one.

``tests/learners/*.py`` are chapter 4-6 programs written the way learners write them (their
own layouts, helper functions, seeds, batch styles), by two testers working apart: the
first's 65 (26 correct — among them ``@``, ``np.maximum``, a ``train()`` with globals, ``zip``
over rows, chapter 8's batch mean taken in the delta, a forward pass after training — and
39 with a mistake), and 45 of the second's 50 (``x...``: 16 correct, two of them a class
keeping its weights on ``self``, 29 wrong; the 5 left out are named at another line than
the one to fix: a method's local copy of ``self``'s weights rebound and never stored back
(twice), gradient sums never set back to 0, the inputs shuffled without their goals, and a
chapter 5 update loop one weight short). Line 1 of each says what
the check must find: ``# expect: clean``, or ``# expect: wrong LINE[|LINE] name: why`` (the
line to fix: where either of two is fair, both). A correct script exits 0; a wrong one
exits 1 (a departure) or 2 (it failed) at that line — never 3 — and, where the catalogue
knows the mistake, names it (``NAMED``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import steptrace

LEARNERS = Path(__file__).parent / "learners"
SCRIPTS = sorted(LEARNERS.glob("*.py"))
EXPECT = re.compile(r"# expect: (?:(clean)|wrong ([\d|]+) )")

#: The mistake the check names for each wrong script (where the catalogue has one).
NAMED = {
    "i01": "replaced-not-moved", "i02": "other-nonlinearity", "i03": "missing-derivative",
    "i05": "alpha-in-delta", "i06": "layer-for-delta", "i07": "derivative-of-other-nonlinearity",
    "i09": "missing-update", "i11": "error-not-squared", "i13": "missing-derivative",
    "i14": "weights-after-update", "i15": "missing-derivative", "i16": "sign",
    "i17": "sum-replaced", "w01": "calculus-factor", "w02": "sign-only", "w03": "error-not-reset",
    "w04": "sample-skipped", "w05": "sample-repeated", "w08": "wrong-batch-size",
    "w09": "weights-not-written-back", "w10": "derivative-of-other-nonlinearity",
    "w11": "weights-after-update", "w13": "derivative-of-wrong-layer", "w14": "missing-derivative",
    "w15": "sign", "w16": "alpha-missing", "w17": "error-not-squared",
    "w18": "wrong-layer-in-update", "w19b": "missing-transpose", "w20": "stale-input",
    "c22": "sample-order",
    # the second tester's (x...)
    "xw01": "derivative-of-wrong-layer", "xw03": "weights-after-update", "xw04": "sign",
    "xw05": "alpha-missing", "xw06": "error-not-reset", "xw07": "goal-of-another-sample",
    "xw08": "sample-skipped", "xw09": "sum-replaced", "xw10": "alpha-twice",
    "xw12": "weights-after-update", "xw13": "changed-by-call", "xw14": "wrong-batch-size",
    "xw19": "missing-derivative", "xw20": "missing-derivative", "xw23": "sample-skipped",
    "xw24": "wrong-batch-size", "xw26": "derivative-in-terms-of-input",
    "xw28": "goal-of-another-sample", "xw29": "error-not-squared", "xw30": "missing-transpose",
    "xw31": "missing-derivative", "xw32": "missing-update", "xw33": "prediction-as-delta",
}


@pytest.fixture(autouse=True)
def builtins_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPTRACE_PLUGINS", "")
    monkeypatch.setattr("steptrace.plugins.loaded._REGISTRIES", {})


def test_the_corpus_is_all_here() -> None:
    assert len(SCRIPTS) == 65 + 45
    assert all(EXPECT.match(path.read_text().splitlines()[0]) for path in SCRIPTS)


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_the_check_is_right_on_a_learners_script(path: Path) -> None:
    found = EXPECT.match(path.read_text().splitlines()[0])
    assert found is not None
    report = steptrace.check_script(path)
    if found[1]:
        assert report.exit_code == 0, str(report)
        return
    lines = {int(n) for n in found[2].split("|")}
    assert report.exit_code in (1, 2), str(report)
    divergence = None if report.lockstep is None else report.lockstep.divergence
    if divergence is not None:
        told = divergence.line
    else:  # it failed: the one-line error names the line to fix
        assert report.error is not None
        where = re.match(rf"{re.escape(str(path))}:(\d+):", report.error)
        assert where is not None, report.error
        told = int(where[1])
    assert told in lines, str(report)
    name = NAMED.get(path.stem.split("_")[0])
    if name is not None:
        assert divergence is not None and divergence.mistake is not None, str(report)
        assert divergence.mistake.name == name, str(report)
