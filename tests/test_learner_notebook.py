"""``%%steptrace_check`` in a real Jupyter kernel (ipykernel under this Python, driven by
nbclient): the cell it heads is checked as a script, and its report is the cell's output.
Then a prelude (what earlier cells hand a cell) without a kernel: values arrive bit for
bit. Skips, saying so, where the kernel's packages (the test extra) are missing."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

for _needed in ("nbformat", "nbclient", "jupyter_client", "ipykernel"):
    pytest.importorskip(_needed, reason="pip install -e '.[test]' (the notebook's kernel)")

import nbformat  # noqa: E402
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402
from jupyter_client.manager import KernelManager  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbformat.notebooknode import NotebookNode  # noqa: E402

from steptrace.learner.prelude import PRELUDE_LINE, Prelude  # noqa: E402
from steptrace.learner.runner import ScriptError, capture  # noqa: E402
from tests.book_programs import CH06_STREETLIGHTS_BACKPROP  # noqa: E402
from tests.test_learner import AFTER_UPDATE  # noqa: E402


def run_notebook(folder: Path, cells: list[str]) -> list[NotebookNode]:
    """Run ``cells`` in a fresh kernel (a kernelspec of this Python, IPython's profile in
    ``folder``); the executed code cells."""
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (steptrace's tests)", "language": "python"}))
    notebook = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]  # type: ignore[no-untyped-call]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("IPYTHONDIR", str(folder / "ipython"))
        env.setenv("JUPYTER_RUNTIME_DIR", str(folder / "runtime"))
        env.setenv("STEPTRACE_PLUGINS", "")
        manager = KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(
            kernel_dirs=[str(folder / "kernels")]))
        client = NotebookClient(notebook, km=manager, kernel_name="python3", timeout=120,
                                startup_timeout=60, resources={"metadata": {"path": str(folder)}})
        client.execute()
    return list(notebook.cells)


def text_of(cell: NotebookNode) -> str:
    """What a cell showed: its printed text and its value's text."""
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type == "execute_result":
            parts.append(output.data["text/plain"])
    return "".join(parts)


def test_the_cell_magic_checks_the_cell_it_heads(tmp_path: Path) -> None:
    cells = run_notebook(tmp_path, [
        "%load_ext steptrace",
        "%%steptrace_check --against ch06-streetlights-backprop\n" + CH06_STREETLIGHTS_BACKPROP,
        "%%steptrace_check\n" + AFTER_UPDATE,
        "%%steptrace_check --json\n" + AFTER_UPDATE,
        "report = _\nprint(type(report).__name__)",
        "%%steptrace_check --against no-such-experiment\nlayer_0 = 1\n",
        "%%steptrace_check\nimport numpy as np\nlayer_0 = np.ones((1, 3))\n"
        "weights_0_1 = np.ones((4, 3))\nlayer_1 = layer_0.dot(weights_0_1)\n",
        "%%steptrace_check\nlayer_0 = 1\nlayer_1 = (\n",
    ])
    for cell in cells:
        assert all(output.output_type != "error" for output in cell.outputs), cell.source
    clean = text_of(cells[1])
    assert clean.startswith("the cell follows the book's rules: all 1,680 assignments of its 240 steps")
    assert "against ch06-streetlights-backprop: the same" in clean
    wrong = text_of(cells[2])
    line = AFTER_UPDATE.splitlines().index(  # the cell's line 1 is the magic's
        "      layer_1_delta=layer_2_delta.dot(weights_1_2.T)*relu2deriv(layer_1)") + 2
    assert wrong.startswith(f"the cell departs from the book at pass 0, sample 0 (step 1 of 240), "
                            f"line {line}:")
    assert "likely mistake: weights after their update" in wrong
    data = json.loads(text_of(cells[3]))
    assert data["status"] == "diverged" and data["divergence"]["mistake"]["name"] == "weights-after-update"
    assert text_of(cells[4]) == "CheckReport\n"  # the cell's value is the report
    assert text_of(cells[5]).startswith("%%steptrace_check: unknown experiment 'no-such-experiment'")
    assert data["divergence"]["line"] == line
    assert data["divergence"]["statement"] == (
        "layer_1_delta=layer_2_delta.dot(weights_1_2.T)*relu2deriv(layer_1)")
    raised = text_of(cells[6])  # the cell's line 5: layer_1 = layer_0.dot(weights_0_1)
    assert raised.startswith("the cell:5: the script raised ValueError: shapes (1,3) and (4,3) not aligned")
    assert "(line 5 computes layer_1:" in raised
    assert text_of(cells[7]).startswith("the cell:3: not Python: '(' was never closed")


def test_values_arrive_bit_for_bit_and_are_the_runs_setup(tmp_path: Path) -> None:
    """Each value as the notebook held it (dtype, shape, type, every bit), and the book's
    names among them assignments before the script's first line."""
    values: dict[str, object] = {
        "weights": np.array([[0.1, -0.7], [1 / 3, np.nextafter(1.0, 2.0)]], dtype=np.float32),
        "alpha": 0.1 + 0.2, "goal_pred": np.float16(0.8), "input": -0.0, "steps": 10**30,
        "streetlights": ((1, 0, 1), [0, 1, 1]), "walk_vs_stop": np.array([True, False]),
        "label": "Error:", "flag": None, "nan": math.nan}
    script = tmp_path / "cell.py"
    script.write_text(
        "for name, value in sorted(dict(globals()).items()):\n"
        "    if not name.startswith('__'):\n"
        "        print(name, type(value).__name__, getattr(value, 'dtype', ''),\n"
        "              value.tobytes().hex() if hasattr(value, 'tobytes') else repr(value))\n"
        "pred = input * weights[0, 0]\n")
    captured = capture(script, prelude=Prelude(values=values))
    expected = "".join(
        f"{name} {type(value).__name__} {getattr(value, 'dtype', '')} "
        f"{value.tobytes().hex() if isinstance(value, np.ndarray | np.generic) else repr(value)}\n"
        for name, value in sorted(values.items()))
    assert captured.stdout == expected
    assert captured.from_earlier_cells == tuple(values)
    setup = [(a.name, a.line) for a in captured.assignments if a.line == PRELUDE_LINE]
    assert setup == [(name, PRELUDE_LINE) for name in
                     ("weights", "alpha", "goal_pred", "input", "streetlights", "walk_vs_stop")]
    weights = values["weights"]
    assert isinstance(weights, np.ndarray)
    assert captured.assignments[0].value.tobytes() == weights.astype(np.float64).tobytes()
    assert captured.assignments[-1].name == "pred" and captured.assignments[-1].line == 5


def test_a_name_that_does_not_import_is_named_if_needed(tmp_path: Path) -> None:
    script = tmp_path / "cell.py"
    script.write_text("pred = 1\nprint(gone)\n")
    prelude = Prelude(imported={"gone": ("no_such_module_of_steptrace", "")})
    with pytest.raises(ScriptError) as raised:
        capture(script, label="the cell", prelude=prelude)
    assert str(raised.value).startswith(
        "the cell:2: the script raised NameError: name 'gone' is not defined (gone came from an "
        "earlier cell and could not be handed over: no_such_module_of_steptrace does not import "
        "in the check's process (ModuleNotFoundError: ")
    assert raised.value.from_earlier_cells == ()
