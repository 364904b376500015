"""docs/chapter6.ipynb, executed for real: a Jupyter kernel (ipykernel, this Python) runs
every cell through nbclient, the outputs are checked against the book's printed numbers
and the runs' own, and the executed notebook, rendered to one HTML page, is opened in
headless Chromium, where each trace's inline viewer must draw and step on its own.

The notebook is written by docs/make_chapter6.py and committed without outputs.
Chromium and Playwright are those of tests/test_viewer.py (its ``browser`` fixture skips,
saying so, where either is missing).
"""

from __future__ import annotations

import html
import importlib.util
import json
import math
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# The notebook runs in a Jupyter kernel: without the test extra's nbclient and ipykernel (a
# bare clone, say), these tests skip, saying so, as the browser tests do without Chromium.
for _needed in ("nbformat", "nbclient", "jupyter_client", "ipykernel"):
    pytest.importorskip(_needed, reason="pip install -e '.[test]' (the notebook's kernel)")

import nbformat  # noqa: E402
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402
from jupyter_client.manager import KernelManager  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbformat.notebooknode import NotebookNode  # noqa: E402

from tests.conftest import BOOK, ROOT, present  # noqa: E402
from tests.test_pressure import FIRST_PASS_MOVES, SIX_TABLE  # noqa: E402
from tests.test_viewer import browser, open_page  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Frame

__all__ = ["browser"]  # the fixture, shared with tests/test_viewer.py

NOTEBOOK = ROOT / "docs" / "chapter6.ipynb"
SCRIPT = ROOT / "docs" / "make_chapter6.py"
#: Per cell; the whole notebook runs in about 5 s here.
CELL_TIMEOUT = 120


@dataclass
class Executed:
    notebook: NotebookNode
    seconds: float

    def cell(self, cell_id: str) -> NotebookNode:
        cells: list[NotebookNode] = [c for c in self.notebook.cells if c.get("id") == cell_id]
        assert len(cells) == 1, cell_id
        return cells[0]

    def stdout(self, cell_id: str) -> str:
        return "".join(o.text for o in self.cell(cell_id).outputs
                       if o.output_type == "stream" and o.name == "stdout")

    def result(self, cell_id: str) -> dict[str, Any]:
        """The cell's value as displayed (its execute_result's data, by MIME type)."""
        results = [o for o in self.cell(cell_id).outputs if o.output_type == "execute_result"]
        assert len(results) == 1, cell_id
        data: dict[str, Any] = dict(results[0].data)
        return data


def read_notebook() -> NotebookNode:
    notebook: NotebookNode = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    return notebook


def book_stdout(cell_id: str) -> str:
    """What the book's cell printed (tests/book/ch06.json)."""
    cells = json.loads((BOOK / "ch06.json").read_text(encoding="utf-8"))
    stdout: str = next(cell["stdout"] for cell in cells if cell["id"] == cell_id)
    return stdout


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Executed]:
    """The notebook run top to bottom by a real kernel: ipykernel under this Python (a
    kernelspec of our own, not whatever ``python3`` the machine has installed), in a
    temporary directory, IPython's profile there too."""
    import time

    folder = tmp_path_factory.mktemp("notebook")
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (steptrace's tests)", "language": "python"}))
    specs = KernelSpecManager(kernel_dirs=[str(folder / "kernels")])
    assert specs.get_kernel_spec("python3").argv[0] == sys.executable
    notebook = read_notebook()
    work = folder / "cwd"
    work.mkdir()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("IPYTHONDIR", str(folder / "ipython"))
        env.setenv("JUPYTER_RUNTIME_DIR", str(folder / "runtime"))
        manager = KernelManager(kernel_name="python3", kernel_spec_manager=specs)
        client = NotebookClient(notebook, km=manager, kernel_name="python3", timeout=CELL_TIMEOUT,
                                startup_timeout=60, resources={"metadata": {"path": str(work)}})
        start = time.perf_counter()
        client.execute()  # raises CellExecutionError on the first cell that raises
        seconds = time.perf_counter() - start
    yield Executed(notebook, seconds)


# -- the notebook as committed -------------------------------------------------------------


def test_the_committed_notebook_is_the_scripts_and_has_no_outputs() -> None:
    spec = importlib.util.spec_from_file_location("make_chapter6", SCRIPT)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert NOTEBOOK.read_text(encoding="utf-8") == script.text(), (
        "docs/chapter6.ipynb is generated: edit docs/make_chapter6.py and run it")
    notebook = read_notebook()
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)


def test_the_notebook_uses_the_public_api_only() -> None:
    """``import steptrace`` and numpy: no module of the package, no private name."""
    notebook = read_notebook()
    source = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    imports = re.findall(r"^\s*(?:import|from)\s+([\w.]+)", source, re.M)
    assert sorted(set(imports)) == ["numpy", "steptrace"]
    assert re.search(r"\.\s*_\w", source) is None  # no ._private attribute


# -- the notebook executed -----------------------------------------------------------------


def test_every_cell_ran_and_none_wrote_to_stderr(executed: Executed) -> None:
    code = [cell for cell in executed.notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    for cell in code:
        for output in cell.outputs:
            assert output.output_type != "error", cell.id
            assert not (output.output_type == "stream" and output.name == "stderr"), (
                cell.id, output.text)  # no warning either
    assert executed.seconds < 60


def test_the_streetlights_as_matrices(executed: Executed) -> None:
    assert executed.stdout("streetlights") == (
        "streetlights =\n[[1. 0. 1.]\n [0. 1. 1.]\n [0. 0. 1.]\n [1. 1. 1.]]\n"
        "walk_vs_stop =\n[[1.]\n [1.]\n [0.]\n [0.]]\n")
    config = executed.result("config")
    assert config["text/html"].startswith("<table")
    assert "ch06-streetlights-backprop" in config["text/html"]


def test_the_book_printed_numbers_come_out_digit_for_digit(executed: Executed) -> None:
    """Learning one sample, the whole dataset's last pass and the backprop cell: what the
    book's program printed, byte for byte."""
    assert executed.stdout("single-sample") == book_stdout("ch06-streetlight-single-sample")
    last_pass = book_stdout("ch06-streetlights-full-dataset").rstrip("\n").split("\n\n")[-1]
    assert last_pass.endswith("Error:0.00053373677328488")
    assert executed.stdout("whole-dataset") == (
        f"{last_pass}\n\nerror of pass 1: 2.6561231104, of pass 40: 0.00053373677328488\n")
    book = book_stdout("ch06-streetlights-backprop")
    assert book.startswith("Error:0.6342311598444467\n")
    assert book.endswith("Error:1.5055622665134859e-05\n")
    assert executed.stdout("book") == book


def test_stochastic_full_and_mini_batch(executed: Executed) -> None:
    assert executed.stdout("gradient-descent") == (
        "stochastic  pass 1: 1.41421  pass 60: 1.50556e-05  pass 300: 9.86077e-32\n"
        "full        pass 1: 1.36242  pass 60: 0.393572  pass 300: 1.15432e-06\n"
        "mini-batch  pass 1: 1.3846  pass 60: 0.0809506  pass 300: 2.20666e-16\n")


def test_the_middle_light_has_the_weight_and_the_correlation(executed: Executed) -> None:
    lines = executed.stdout("middle-light").splitlines()
    assert lines == ["light 0: weight +0.0139   correlation with walk_vs_stop -0.3333",
                     "light 1: weight +1.0138   correlation with walk_vs_stop +1.0000",
                     "light 2: weight -0.0160   correlation with walk_vs_stop +nan"]
    numbers = [re.findall(r"[-+](?:[\d.]+|nan)", line) for line in lines]
    weights = [float(n[0]) for n in numbers]
    correlations = [float(n[1]) for n in numbers]
    top = max(range(3), key=lambda i: -math.inf if math.isnan(correlations[i]) else correlations[i])
    assert top == max(range(3), key=lambda i: abs(weights[i])) == 1


def test_up_and_down_pressure(executed: Executed) -> None:
    """The book's table from the data, its readings, and where the run took each weight;
    then the run's own moves, which differ from it."""
    lines = executed.stdout("pressure").splitlines()
    start = lines.index(SIX_TABLE[0])
    assert lines[start:start + len(SIX_TABLE)] == SIX_TABLE
    assert "Conflicting pressure on w[2]: the data pushes it up 3 times and down 3 times a " \
        "pass, yet the" in lines
    assert executed.stdout("moves").splitlines() == FIRST_PASS_MOVES
    balanced = " ".join(executed.stdout("no-correlation-pressure").splitlines())
    assert "reading conflicting conflicting conflicting" in " ".join(balanced.split())
    assert "Every column is conflicting: no input correlates with walk_vs_stop on its own" \
        in balanced


def test_overfitting_fits_the_training_rows_and_not_the_held_out_ones(executed: Executed) -> None:
    assert executed.stdout("overfitting") == (
        "training error: pass 0 0.912784, pass 399 3.11e-23\n"
        "held-out error: pass 0 2.05324, pass 399 1.0404\n"
        "weights: [0.51, 0.49, -0.0]\n")
    said = " ".join(executed.stdout("overfitting-pressure").split())
    assert "The held-out rows disagree about w[0]: the training rows read it toward 1, the " \
        "held-out rows toward 0; it ended at 0.51." in said
    assert said.endswith("it memorised (the book's overfitting).")


def test_no_correlation_plateaus_and_relu_converges(executed: Executed) -> None:
    assert executed.stdout("no-correlation") == (
        "light 0: correlation with walk_vs_stop +0.0000\n"
        "light 1: correlation with walk_vs_stop +0.0000\n"
        "light 2: correlation with walk_vs_stop +nan\n")
    printed = executed.stdout("plateaus")
    assert printed == (
        "no hidden layer      pass 1: 6.51023  pass 60: 1.56256  pass 300: 1.5625\n"
        "linear hidden layer  pass 1: 3.86178  pass 60: 1.36021  pass 300: 1.32539\n"
        "relu hidden layer    pass 1: 1.41421  pass 60: 1.50556e-05  pass 300: 9.86077e-32\n")
    errors = {line[:20].strip(): [float(x) for x in re.findall(r"pass \d+: (\S+)", line)]
              for line in printed.splitlines()}
    assert errors["no hidden layer"][2] > 1.5 and errors["linear hidden layer"][2] > 1.3
    assert errors["relu hidden layer"][1] < 1e-4 < errors["linear hidden layer"][1]


def test_one_iteration_of_backpropagation_narrated(executed: Executed) -> None:
    lines = executed.stdout("backprop").splitlines()
    assert lines[:6] == [  # rounded to 4 significant digits, show's default
        '── epoch 0 · sample 0: layer_0 = streetlights[0] = [1, 0, 1], goal walk_vs_stop[0] = [1]',
        '[0] layer_1 = relu(layer_0 · weights_0_1) = relu([-0.3724, 0.5183, -1.161, -0.0249]) = '
        '[-0, 0.5183, -0, -0]',
        '[1] layer_2 = layer_1 · weights_1_2 = [0.3919]',
        '[2] error = sum((layer_2 − walk_vs_stop[0])²) = sum(([0.3919] − [1])²) = 0.3697',
        '[3] layer_2_delta = layer_2 − walk_vs_stop[0] = [-0.6081]',
        '[4] layer_1_delta = layer_2_delta · weights_1_2ᵀ * relu2deriv(layer_1) = [0.3594, -0.4598, '
        '0.5748, -0.2073] * [0, 1, 0, 0] = [0, -0.4598, 0, -0]',
    ]
    assert lines[6].startswith("[5] weights_1_2 -= alpha · layer_1ᵀ · layer_2_delta")
    assert lines[7].startswith("[6] weights_0_1 -= alpha · layer_0ᵀ · layer_1_delta")
    assert lines[8] == "[28] end of epoch 0: error summed over 4 sample(s) = 1.414"
    assert len(lines) == 9


def test_the_check_cell_names_the_line_that_departs(executed: Executed) -> None:
    """The notebook's %%steptrace_check cell, its loop updating weights_1_2 before the
    hidden delta: the report names the cell's line 11 (the %% line is line 1) and the
    mistake, with the book's numbers."""
    report = executed.result("check")["text/plain"]
    lines = report.splitlines()
    assert lines[0] == ("the cell departs from the book at pass 0, sample 0 (step 1 of 240), "
                        "line 11:")
    assert lines[1] == "    layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)"
    assert lines[2] == "  yours:     layer_1_delta = [0, -0.4982, 0, -0]"
    assert lines[5] == "                           = [0, -0.4598, 0, -0]"
    assert lines[6].startswith("  likely mistake: weights after their update: weights_1_2 was "
                               "already updated (line 10) when this line used it")
    assert ("  printed output: line 1 differs: yours 'Error:0.6507738139920416', the book's "
            "'Error:0.6342311598444467'") in lines
    source = executed.cell("check-setup").source
    assert "%load_ext steptrace" in source and "np.random.seed(1)" in source


def test_a_trace_as_a_cells_value_is_the_viewer_in_a_frame(executed: Executed) -> None:
    for cell_id, name, events in [("whole-viewer", "ch06-streetlights-full-dataset", 1000),
                                  ("relu-viewer", "ch06-streetlights-backprop", 1740)]:
        shown = executed.result(cell_id)
        assert shown["text/html"].startswith('<iframe srcdoc="'), cell_id
        assert f'title="steptrace: {name}"' in shown["text/html"]
        assert shown["text/plain"].startswith(f"<Trace {name}: {events} events")
    live = executed.result("live")  # steptrace.playground: the page with its edit panel
    assert live["text/html"].startswith('<iframe srcdoc="')
    assert "title=\"steptrace: ch06-streetlights-backprop\"" in live["text/html"]
    assert "&quot;edit&quot;:{&quot;config&quot;:" in live["text/html"]
    table = executed.result("pandas")
    assert 'class="dataframe"' in table["text/html"]
    header = table["text/plain"].splitlines()[0].split()
    assert header[:5] == ["seq", "epoch", "samples", "layer", "kind"]
    assert table["text/html"].split("<tbody>")[1].count("<tr>") == 5  # head(): 5 rows


# -- the executed notebook in a browser ----------------------------------------------------


def render(notebook: NotebookNode) -> str:
    """The executed notebook as one HTML page, as a notebook front end shows it: each
    output's text/html as it is, otherwise its text in a <pre> (nbconvert is not needed)."""
    parts = ["<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>chapter 6</title></head>"
             "<body>"]
    for cell in notebook.cells:
        parts.append(f'<pre class="{cell.cell_type}">{html.escape(cell.source)}</pre>')
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(f"<pre>{html.escape(output.text)}</pre>")
            elif output.output_type in ("execute_result", "display_data"):
                data = output.data
                parts.append(data["text/html"] if "text/html" in data
                             else f"<pre>{html.escape(data.get('text/plain', ''))}</pre>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def where(frame: Frame) -> str:
    return present(frame.text_content("#where"))


def test_both_inline_viewers_draw_and_step_on_their_own(
        executed: Executed, browser: Browser, tmp_path: Path) -> None:
    page_file = tmp_path / "chapter6.html"
    page_file.write_text(render(executed.notebook), encoding="utf-8")
    page, errors, requests = open_page(browser, page_file)
    frames = [present(handle.content_frame()) for handle in page.query_selector_all("iframe")]
    assert len(frames) == 3
    whole, relu, live = frames
    for frame, nodes, events in [(whole, 3 + 1, 1000), (relu, 3 + 4 + 1, 1740)]:
        frame.wait_for_selector("svg#net circle")
        assert len(frame.query_selector_all("svg#net circle")) == nodes
        assert where(frame).startswith(f"event 0 of {events} ")
    assert present(whole.text_content("#title")) != present(relu.text_content("#title"))

    whole.click("#next")
    assert where(whole).startswith("event 1 of 1000 ")
    assert present(whole.text_content("#line")).startswith("[1] ")
    assert where(relu).startswith("event 0 of 1740 ")  # the other viewer did not move
    relu.click("#next")
    relu.click("#next")
    assert where(relu).startswith("event 2 of 1740 ")
    assert present(relu.text_content("#line")).startswith("[2] error = ")
    assert where(whole).startswith("event 1 of 1000 ")
    relu.click("#prev")
    assert where(relu).startswith("event 1 of 1740 ")
    # the live cell: an edit is computed in the page, the other viewers stay as they were
    live.wait_for_selector("[data-setting=alpha]")
    live.fill("[data-setting=alpha]", "0.5")
    live.press("[data-setting=alpha]", "Enter")
    assert present(live.text_content("#says")).startswith("recomputed: 1,740 events in ")
    assert live.evaluate("steptrace.config().alpha") == 0.5
    assert where(relu).startswith("event 1 of 1740 ")
    assert errors == []
    assert all(url.startswith(("file://", "about:")) for url in requests)  # nothing fetched


@pytest.mark.parametrize("width", [780, 1280])
def test_each_inline_frame_grows_to_its_page_and_nothing_is_cut_off(
        executed: Executed, browser: Browser, tmp_path: Path, width: int) -> None:
    """In a notebook's output (scripts run) each frame takes its page's height, from the
    page's own message, and only its own: opening one page's pressure table grows that
    frame alone. At 780 pixels wide every node and the curve's axes are inside."""
    page_file = tmp_path / "chapter6.html"
    page_file.write_text(render(executed.notebook), encoding="utf-8")
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(page_file.as_uri())
    handles = page.query_selector_all("iframe")
    assert len(handles) == 3
    for cell_id in ("whole-viewer", "relu-viewer", "live"):  # where no script runs: the whole page at 780 px
        assert "height: 1100px" in executed.result(cell_id)["text/html"]
    assert all(h.get_attribute("sandbox") == "allow-scripts" for h in handles)
    frames = [present(handle.content_frame()) for handle in handles]

    def content(frame: Frame) -> int:
        height: int = frame.evaluate("Math.ceil(document.documentElement.getBoundingClientRect().height)")
        return height

    for handle, frame in zip(handles, frames, strict=True):
        frame.wait_for_selector("svg#net circle")
        # (Chromium pauses the rendering of a cross-origin frame out of view, its ResizeObserver
        # too: the frame takes its height when it comes into view, as the notebook is scrolled)
        handle.scroll_into_view_if_needed()
        page.wait_for_function("([f, h]) => Math.abs(f.clientHeight - h) <= 1", arg=[handle, content(frame)])
        # (a page may still settle after its first height, a live page's panel say: its next
        # message grows the frame again, so the frame holds the page once it has settled)
        frame.wait_for_function("document.documentElement.scrollHeight <= window.innerHeight",
                                timeout=10_000)
        inside = frame.evaluate("""() => {
          const w = document.documentElement.clientWidth;
          return {out: [...document.querySelectorAll("#net circle, #curve .axis line")]
                    .map(c => c.getBoundingClientRect()).filter(b => b.left < 0 || b.right > w + .5).length,
                  scroll: document.documentElement.scrollWidth - w};
        }""")
        assert inside == {"out": 0, "scroll": 0}
    heights = [h.evaluate("f => f.clientHeight") for h in handles]
    frames[1].click("#pressure summary")  # the page grows: its frame follows, the other stays
    page.wait_for_function("([f, h]) => f.clientHeight > h + 50", arg=[handles[1], heights[1]])
    assert abs(handles[1].evaluate("f => f.clientHeight") - content(frames[1])) <= 1
    assert handles[0].evaluate("f => f.clientHeight") == heights[0]
    if width == 780:
        page.wait_for_timeout(100)
        handles[0].scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / "notebook-780.png"))
    assert errors == []
    page.close()
