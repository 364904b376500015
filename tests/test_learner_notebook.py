"""``%%steptrace_check`` in a real Jupyter kernel (ipykernel under this Python, driven by
nbclient): the cell it heads is checked as a script, its report is the cell's output, the
lines it names are the cell's, and what the cell takes from earlier cells is handed over.
One kernel runs every cell (:data:`CELLS`); the tests read its outputs. Then the handing
over itself, without a kernel: which names a cell reads before it binds them, what of a
namespace is handed over, and that values arrive bit for bit. Skips, saying so, where the
kernel's packages (the test extra) are missing."""

from __future__ import annotations

import ast
import inspect
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

from steptrace.learner.handover import prelude_for  # noqa: E402
from steptrace.learner.prelude import PRELUDE_LINE, Prelude  # noqa: E402
from steptrace.learner.reads import names_read_before_bound  # noqa: E402
from steptrace.learner.runner import ScriptError, capture  # noqa: E402
from tests.book_programs import CH06_STREETLIGHTS_BACKPROP  # noqa: E402
from tests.test_learner import AFTER_UPDATE  # noqa: E402

WRONG_LINE = "      layer_1_delta=layer_2_delta.dot(weights_1_2.T)*relu2deriv(layer_1)"
#: The book's setup (imports, relu, the data, alpha, the seeded weights) and its loop, as a
#: notebook splits them into two cells.
SETUP = CH06_STREETLIGHTS_BACKPROP[:CH06_STREETLIGHTS_BACKPROP.index("for iteration")]
LOOP = CH06_STREETLIGHTS_BACKPROP[len(SETUP):]
WRONG_LOOP = AFTER_UPDATE[len(SETUP):]
assert AFTER_UPDATE.startswith(SETUP)

#: Every cell the kernel runs, by name, in order.
CELLS = {
    "load": "%load_ext steptrace",
    "clean": "%%steptrace_check --against ch06-streetlights-backprop\n" + CH06_STREETLIGHTS_BACKPROP,
    "wrong": "%%steptrace_check\n" + AFTER_UPDATE,
    "wrong json": "%%steptrace_check --json\n" + AFTER_UPDATE,
    "value": "report = _\nprint(type(report).__name__)",
    "no such experiment": "%%steptrace_check --against no-such-experiment\nlayer_0 = 1\n",
    "no such option": "%%steptrace_check --jsno\nlayer_0 = 1\n",
    "raises": ("%%steptrace_check\nimport numpy as np\nlayer_0 = np.ones((1, 3))\n"
               "weights_0_1 = np.ones((4, 3))\nlayer_1 = layer_0.dot(weights_0_1)\n"),
    "not python": "%%steptrace_check\nlayer_0 = 1\nlayer_1 = (\n",
    # the notebook's way: the setup in one cell, the loop in the next
    "setup": SETUP,
    "loop": "%%steptrace_check --against ch06-streetlights-backprop\n" + LOOP,
    "loop json": "%%steptrace_check --json\n" + LOOP,
    "wrong loop": "%%steptrace_check --json\n" + WRONG_LOOP,
    "relu as a lambda": "relu = lambda x: (x > 0) * x",
    "lambda": ("%%steptrace_check\nlayer_0 = streetlights[0:1]\n"
               "layer_1 = relu(np.dot(layer_0, weights_0_1))\n"),
}


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


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What each of :data:`CELLS` showed, run in one kernel (none may raise)."""
    cells = run_notebook(tmp_path_factory.mktemp("notebook"), list(CELLS.values()))
    for cell in cells:
        assert all(output.output_type != "error" for output in cell.outputs), cell.source
    return {name: text_of(cell) for name, cell in zip(CELLS, cells, strict=True)}


def text_of(cell: NotebookNode) -> str:
    """What a cell showed: its printed text and its value's text."""
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type == "execute_result":
            parts.append(output.data["text/plain"])
    return "".join(parts)


def cell_line(body: str, line: str) -> int:
    """The line of the cell ``%%steptrace_check ...\\n`` + ``body`` that ``line`` is."""
    return body.splitlines().index(line) + 2  # (line 1 is the magic's)


def test_the_cell_magic_checks_the_cell_it_heads(shown: dict[str, str]) -> None:
    clean = shown["clean"]
    assert clean.startswith("the cell follows the book's rules: all 1,680 assignments of its 240 steps")
    assert "against ch06-streetlights-backprop: the same" in clean
    assert "taken from earlier cells" not in clean  # (it defines all it uses)
    line = cell_line(AFTER_UPDATE, WRONG_LINE)
    assert shown["wrong"].startswith(f"the cell departs from the book at pass 0, sample 0 (step 1 "
                                     f"of 240), line {line}:\n    {WRONG_LINE.strip()}\n")
    assert "likely mistake: weights after their update" in shown["wrong"]
    data = json.loads(shown["wrong json"])
    assert data["status"] == "diverged" and data["divergence"]["mistake"]["name"] == "weights-after-update"
    assert (data["divergence"]["line"], data["divergence"]["statement"]) == (line, WRONG_LINE.strip())
    assert data["from_earlier_cells"] == []
    assert shown["value"] == "CheckReport\n"  # the cell's value is the report
    assert shown["no such experiment"].startswith(
        "%%steptrace_check: unknown experiment 'no-such-experiment'")
    assert shown["no such option"] == ("%%steptrace_check: unrecognized arguments: --jsno (options: "
                                       "--against ID, --rtol R, --atol A, --timeout SECONDS, --json)\n")


def test_an_error_names_the_cells_line(shown: dict[str, str]) -> None:
    raised = shown["raises"]  # the cell's line 5: layer_1 = layer_0.dot(weights_0_1)
    assert raised.startswith("the cell:5: the script raised ValueError: shapes (1,3) and (4,3) not aligned")
    assert "(line 5 computes layer_1:" in raised
    assert shown["not python"].startswith("the cell:3: not Python: '(' was never closed")


def test_a_cell_is_handed_what_earlier_cells_defined(shown: dict[str, str]) -> None:
    """The loop in a cell of its own: the data, weights, alpha, relu and np come from the
    setup cell, exactly (the run is the experiment's: its data, its seeded weights)."""
    loop = shown["loop"]
    assert loop.startswith("the cell follows the book's rules: all 1,680 assignments of its 240 steps")
    assert "against ch06-streetlights-backprop: the same" in loop
    taken = ["np", "streetlights", "walk_vs_stop", "alpha", "weights_0_1", "weights_1_2", "relu",
             "relu2deriv"]  # (modules, values, functions: each in the order the notebook made them)
    assert f"  taken from earlier cells: {', '.join(taken)}\n" in loop
    data = json.loads(shown["loop json"])
    assert data["status"] == "match" and data["from_earlier_cells"] == taken
    assert data["network"]["alpha"] == 0.2 and data["network"]["layers"] == [3, 4, 1]


def test_a_wrong_loop_departs_at_the_cells_line(shown: dict[str, str]) -> None:
    data = json.loads(shown["wrong loop"])
    found = data["divergence"]
    assert data["status"] == "diverged" and found["mistake"]["name"] == "weights-after-update"
    assert found["line"] == cell_line(WRONG_LOOP, WRONG_LINE)
    assert found["statement"] == WRONG_LINE.strip()
    updated = cell_line(WRONG_LOOP, "      weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta)")
    assert f"(line {updated})" in found["mistake"]["detail"]


def test_what_cannot_be_handed_over_is_named_when_needed(shown: dict[str, str]) -> None:
    """A lambda is not handed over: the cell that needs it fails saying which name, and why."""
    assert shown["lambda"].splitlines() == [
        "the cell:3: the script raised NameError: name 'relu' is not defined (relu came from an "
        "earlier cell and could not be handed over: a lambda: steptrace hands over functions "
        "defined with def)",
        "  taken from earlier cells: np, streetlights, weights_0_1"]


def test_the_readmes_notebook_examples_are_real(shown: dict[str, str]) -> None:
    readme = (Path(__file__).resolve().parents[1] / "docs" / "check-your-code.md").read_text(
        encoding="utf-8")
    section = readme[readme.index("**In Jupyter**"):]
    block = section[section.index("```text\n") + len("```text\n"):section.index("```\n\n")]
    loop = "\n".join(shown["loop"].splitlines()[:3])  # (then the comparison with the experiment)
    assert block == f"{loop}\n\n{shown['lambda']}\n"


# -- the handing over, without a kernel --------------------------------------------------

def test_a_cell_needs_what_it_reads_before_it_binds_it() -> None:
    assert names_read_before_bound(ast.parse(LOOP)) == [
        "range", "len", "streetlights", "relu", "np", "weights_0_1", "weights_1_2",
        "walk_vs_stop", "relu2deriv", "alpha", "print", "str"]  # (not layer_2_error: set first)
    assert names_read_before_bound(ast.parse(CH06_STREETLIGHTS_BACKPROP)) == [
        "range", "len", "print", "str"]  # the whole program makes its own
    source = ("weights = weights * 2\nerror += 1\ndelta[0] = 1\n"
              "def train(x, scale=alpha):\n    global step\n    step = x + later\n"
              "    return [x * w for w in rows]\n"
              "later = 1\nsquare = lambda v: v * v * factor\n")
    assert names_read_before_bound(ast.parse(source)) == [
        "weights", "error", "delta", "alpha", "rows", "factor"]


def scaled_relu(x: float) -> float:
    """A function of the notebook's that reads another of its names (``scale``)."""
    return max(x, 0.0) * scale


def train() -> None:
    """A function of the notebook's that changes a book name unseen."""
    global weights_0_1
    weights_0_1 = 0


scale = 2.0
weights_0_1 = 0


def test_what_a_namespace_hands_over() -> None:
    def relu(x: float) -> float:
        return max(x, 0.0)

    namespace = {"__name__": __name__, "np": np, "floor": math.floor,
                 "weights_0_1": np.ones((3, 4), np.float32), "alpha": 0.1, "rows": [[1, 2], (3, 4)],
                 "relu": relu, "frame": object(), "huge": np.zeros(10 << 20), "unused": 1.0,
                 "matrix": np.ma.masked_array([1.0]), "scaled_relu": scaled_relu, "scale": scale,
                 "train": train}
    cell = ("print(np, floor, weights_0_1, alpha, rows, relu, frame, huge, matrix, missing)\n"
            "train()\nscaled_relu(1)\n")
    prelude = prelude_for(cell, namespace)
    assert prelude.imported == {"np": ("numpy", ""), "floor": ("math", "floor")}
    assert list(prelude.values) == ["weights_0_1", "alpha", "rows", "scale"]  # (scale: for scaled_relu)
    assert prelude.values["weights_0_1"] is namespace["weights_0_1"]
    assert prelude.functions == {"scaled_relu": ("scaled_relu", inspect.getsource(scaled_relu))}
    assert prelude.refused["train"].startswith("a function that changes weights_0_1 (global)")
    assert prelude.refused["relu"].startswith("a function defined inside another")
    assert prelude.refused["frame"].startswith("an object: steptrace hands over modules, numbers")
    assert prelude.refused["huge"] == ("80 MiB, past the 64 MiB steptrace hands over from the "
                                       "notebook in all")
    assert prelude.refused["matrix"].startswith("a MaskedArray (not a plain numpy array): ")
    assert "unused" not in prelude.names and "missing" not in prelude.refused


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
