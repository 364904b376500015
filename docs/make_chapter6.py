"""Write docs/chapter6.ipynb, chapter 6 of Grokking Deep Learning as runs (no outputs).

    python docs/make_chapter6.py

The notebook is generated, so edit it here: tests/test_notebook.py checks that the
committed notebook is what this script writes, executes it with a real kernel and checks
its outputs. Each cell has a fixed id (the test finds cells by it).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode

NOTEBOOK = Path(__file__).resolve().parent / "chapter6.ipynb"

CELLS: list[tuple[str, str, str]] = [
    ("md", "title", """\
# Chapter 6: your first deep neural network, run

*Grokking Deep Learning*'s chapter 6, step by step: every number below comes from a run
that steptrace recorded (in exact arithmetic, so the book's printed numbers come out to
the last digit)."""),
    ("code", "imports", """\
import numpy as np

import steptrace"""),

    ("md", "streetlights-md", """\
## The streetlight problem as matrices

Each row of `streetlights` is one pattern of lights; `walk_vs_stop` says whether people
walked (1) or stopped (0) at it."""),
    ("code", "streetlights", """\
config = steptrace.experiment("ch06-streetlights-backprop")
streetlights = np.asarray(config.inputs)
walk_vs_stop = np.asarray(config.goals)
print("streetlights =", streetlights, "walk_vs_stop =", walk_vs_stop, sep="\\n")"""),
    ("code", "config", """\
config"""),

    ("md", "single-sample-md", """\
## Learning one sample

One pattern, one weight per light: every iteration the error falls, as the book printed."""),
    ("code", "single-sample", """\
single = steptrace.record("ch06-streetlight-single-sample")
print(single.show("book"))"""),

    ("md", "whole-dataset-md", """\
## Learning the whole dataset

Six patterns, the weights updated after each (stochastic gradient descent): the last of
40 passes, and the error of each pass falling."""),
    ("code", "whole-dataset", """\
whole = steptrace.record("ch06-streetlights-full-dataset")
print(whole.show("book").split("\\n\\n")[-1])
print(f"error of pass 1: {whole.errors[0]}, of pass {len(whole.errors)}: {whole.errors[-1]}")"""),
    ("md", "whole-viewer-md", """\
A trace as a cell's value is the step-through viewer: ◀ and ▶ (or the arrow keys) walk
through every forward pass, error, delta and update."""),
    ("code", "whole-viewer", """\
whole"""),

    ("md", "gradient-descent-md", """\
## Stochastic, full and mini-batch gradient descent

The same network, data and starting weights: stochastic updates after every sample, full
gradient descent once a pass (the average weight_delta), mini-batch after every 2 samples."""),
    ("code", "gradient-descent", """\
stochastic = steptrace.experiment("ch06-streetlights-backprop")
stochastic.iterations = 300  # the book's cell runs 60 passes; the others run 300
runs = {"stochastic": steptrace.record(stochastic),
        "full": steptrace.record("streetlights-full-gd"),
        "mini-batch": steptrace.record("streetlights-minibatch")}
for name, run in runs.items():
    errors = run.errors
    print(f"{name:10}  pass 1: {errors[0]:.6g}  pass 60: {errors[59]:.6g}  pass 300: {errors[299]:.6g}")"""),

    ("md", "middle-light-md", """\
## The network finds the middle light

After the whole dataset, the weight on the middle light is near 1 and the others near 0:
the middle light is the one that correlates with walking. (The last light is always on:
it never varies, so it has no correlation, `nan`.)"""),
    ("code", "middle-light", """\
lights = np.asarray(whole.config.inputs)
walk = np.asarray(whole.config.goals)[:, 0]
with np.errstate(invalid="ignore", divide="ignore"):  # the always-on light has no variance
    correlation = [np.corrcoef(lights[:, i], walk)[0, 1] for i in range(lights.shape[1])]
for i, (weight, r) in enumerate(zip(whole.weights[0][:, 0], correlation, strict=True)):
    print(f"light {i}: weight {weight:+.4f}   correlation with walk_vs_stop {r:+.4f}")"""),

    ("md", "pressure-md", """\
## Up and down pressure

The book's argument: the pressure on each weight comes from the data. For each example and
each weight, + where the light is on and the goal is 1 (pushed toward 1), − where the light
is on and the goal is 0 (toward 0), 0 where the light is off (that weight is not to blame).
Read down a column: the left weight gets two − and one + (toward 0), the middle three +
(toward 1), the right three + and three − (conflicting). Beside the table, where the run
took each weight: the conflicting one went to 0 too, because the data is fitted exactly by
[0, 1, 0] alone — once the middle weight does its job, whatever the right one adds is
error."""),
    ("code", "pressure", """\
print(whole.show("pressure"))"""),
    ("md", "moves-md", """\
The run's own moves are another table: which way each update moved each weight. In the
first pass, the first example, [1, 0, 1] → 0, moves the left and right weights *up* (its
prediction, −0.2, was below its goal) where the book's table has − 0 −: a move follows
prediction − goal; the pressure follows the data."""),
    ("code", "moves", """\
print(whole.show("moves", epoch=0))"""),

    ("md", "no-correlation-md", """\
## No direct correlation

In the backprop cell's four patterns no light correlates with walk_vs_stop on its own:
the correlation is indirect, in combinations of lights."""),
    ("code", "no-correlation", """\
with np.errstate(invalid="ignore", divide="ignore"):
    for i in range(streetlights.shape[1]):
        r = np.corrcoef(streetlights[:, i], walk_vs_stop[:, 0])[0, 1]
        print(f"light {i}: correlation with walk_vs_stop {r:+.4f}")"""),
    ("md", "plateaus-md", """\
So one weight layer cannot learn it: its error stops falling. A hidden layer without a
nonlinearity is still one linear layer, and does not converge either; with relu, the
book's network, it does."""),
    ("code", "plateaus", """\
no_hidden = steptrace.record("streetlights-no-hidden-layer")  # 3-1
linear = steptrace.record("streetlights-linear-hidden-layer")  # 3-4-1, linear hidden layer
relu_300 = runs["stochastic"]  # 3-4-1, relu hidden layer: the book's network, 300 passes
for name, run in [("no hidden layer", no_hidden), ("linear hidden layer", linear),
                  ("relu hidden layer", relu_300)]:
    errors = run.errors
    print(f"{name:20} pass 1: {errors[0]:.6g}  pass 60: {errors[59]:.6g}  pass 300: {errors[299]:.6g}")"""),
    ("md", "no-correlation-pressure-md", """\
The book's pressure table of the same data says why: every column is balanced, so no
weight is pushed toward 1 or toward 0, and one weight layer settles where the pressures
cancel."""),
    ("code", "no-correlation-pressure", """\
print(no_hidden.show("pressure"))"""),
    ("md", "overfitting-md", """\
## Overfitting

The book's last edge case: a weight configuration that fits the training rows exactly
without the weights that correlate stops learning — it memorised. `streetlights-overfitting`
trains on two of the six-light rows, [1, 1, 1] → 1 and [0, 0, 1] → 0, from the book's
starting weights, and holds the other four out: after each pass the network is run forward
on them and their error recorded (`Trace.test_errors`). The training error goes to 0; the
held-out error does not: the left weight stays near 0.5 where the whole data would take it
to 0, and the middle one at 0.49 where the whole data would take it to 1."""),
    ("code", "overfitting", """\
overfit = steptrace.record("streetlights-overfitting")
last = len(overfit.errors) - 1
print(f"training error: pass 0 {overfit.errors[0]:.6g}, pass {last} {overfit.errors[-1]:.3g}")
print(f"held-out error: pass 0 {overfit.test_errors[0]:.6g}, pass {last} {overfit.test_errors[-1]:.6g}")
print("weights:", [round(float(w), 4) for w in overfit.weights[0][:, 0]])"""),
    ("md", "overfitting-pressure-md", """\
The pressure tables say why: the two training rows press the left weight toward 1, the four
held-out rows press it toward 0."""),
    ("code", "overfitting-pressure", """\
print(overfit.show("pressure"))"""),

    ("md", "backprop-md", """\
## One iteration of backpropagation

The first sample through the relu network: forward, error, layer_2_delta, then
layer_1_delta (layer_2_delta sent back through weights_1_2, zero where relu was off), then
both weight updates."""),
    ("code", "backprop", """\
relu = steptrace.record("ch06-streetlights-backprop")  # the book's cell: 60 passes
print(relu.show(epoch=0, sample=0))"""),
    ("md", "book-md", """\
## Putting it all together

What the book's program printed, every 10 passes, to the last digit:"""),
    ("code", "book", """\
print(relu.show("book"))"""),
    ("code", "relu-viewer", """\
relu"""),
    ("md", "live-md", """\
## Change it and watch

The same network, ready to edit: change alpha, the number of passes, the hidden layer's
size, a layer's nonlinearity, the strategy, the seed or one weight (click an edge), switch
any streetlight or goal, add or remove a row, and the page computes the run again at once,
every number what `steptrace.record` computes. "copy as experiment" gives the edited
experiment as TOML, for `steptrace record`."""),
    ("code", "live", """\
steptrace.playground("ch06-streetlights-backprop")"""),
    ("md", "pandas-md", """\
Every step is a typed event, to filter (`relu.events.filter(epoch=0, kind="update")`) or
to read as a table:"""),
    ("code", "pandas", """\
relu.to_pandas().head()"""),
    ("md", "check-md", """\
## Check your own code

Write the loop yourself and `%%steptrace_check` runs the cell, follows every assignment to
the book's names and checks each step against the book's rule, naming the first line that
departs (see [Check your own code](check-your-code.md)). The cell is checked in a process
of its own: the notebook's variables are handed to it, and none is changed. The book's
setup first:"""),
    ("code", "check-setup", """\
%load_ext steptrace
import numpy as np

np.random.seed(1)

def relu(x):
    return (x > 0) * x

def relu2deriv(output):
    return output > 0

streetlights = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]])
walk_vs_stop = np.array([[1, 1, 0, 0]]).T
alpha = 0.2
hidden_size = 4
weights_0_1 = 2 * np.random.random((3, hidden_size)) - 1
weights_1_2 = 2 * np.random.random((hidden_size, 1)) - 1"""),
    ("md", "check-loop-md", """\
Then the loop, with a mistake to find (the check names it; fix the line and run the cell
again until it says the loop follows the book):"""),
    ("code", "check", """\
%%steptrace_check --against ch06-streetlights-backprop
for iteration in range(60):
    layer_2_error = 0
    for i in range(len(streetlights)):
        layer_0 = streetlights[i:i+1]
        layer_1 = relu(np.dot(layer_0, weights_0_1))
        layer_2 = np.dot(layer_1, weights_1_2)
        layer_2_error += np.sum((layer_2 - walk_vs_stop[i:i+1]) ** 2)
        layer_2_delta = layer_2 - walk_vs_stop[i:i+1]
        weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta)
        layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)
        weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta)
    if iteration % 10 == 9:
        print("Error:" + str(layer_2_error))"""),
]


def notebook() -> NotebookNode:
    """The notebook, without outputs."""
    cells = [nbformat.v4.new_markdown_cell(source, id=cell_id) if kind == "md"
             else nbformat.v4.new_code_cell(source, id=cell_id)
             for kind, cell_id, source in CELLS]
    return nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })


def text() -> str:
    """The notebook's file as written."""
    return nbformat.writes(notebook()) + "\n"


if __name__ == "__main__":
    NOTEBOOK.write_text(text(), encoding="utf-8")
    print(f"wrote {NOTEBOOK}")
