"""A learning rule's look-ahead: ``step.gradient(at=weights)`` is the step's own gradient
arithmetic at other weights (same batch, averaging, nonlinearities with their options,
derivatives of the input), never traced and never leaking into the step's events;
``step.weights_after(weight_deltas)`` is the update the engine would make. What a rule
gets wrong about them is one line naming its plugin."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from steptrace import portable
from steptrace.config import ExperimentConfig
from steptrace.engine.network import Network, Step, training_data
from steptrace.engine.plan import Plan
from steptrace.engine.rules import Array, Learned, LearningStep, Nonlinearity, Option, Strategy
from steptrace.errors import PluginError
from steptrace.recording import run
from steptrace.trace.events import Event
from tests.conftest import RunCli, builtin_registry

REGISTRY = builtin_registry()
Rule = Callable[[LearningStep], Learned]


def leaky(x: Array, *, slope: float) -> Array:
    return np.where(x > 0, x, slope * x)


def leaky2deriv(output: Array, *, slope: float) -> Array:
    return np.where(output > 0, 1.0, slope)


def silu(x: Array) -> Array:
    return x * portable.sigmoid(x)


def silu2deriv(x: Array) -> Array:  # of the weighted sum
    s = portable.sigmoid(x)
    return s * (1 + x * (1 - s))


#: a nonlinearity with an option, bound to slope 0.3, and one whose derivative takes its input
LEAKY = Nonlinearity("leaky", leaky, leaky2deriv, "x if x > 0 else slope * x",
                     "1 if output > 0 else slope",
                     options={"slope": Option(float, 0.01, "")}).with_options({"slope": 0.3})
SILU = Nonlinearity("silu", silu, silu2deriv, "x * sigmoid(x)", "...", derivative_of="input")


def setup(name: str, rule: Rule | None = None, hidden: Sequence[Nonlinearity] | None = None,
          **changes: Any) -> tuple[ExperimentConfig, Plan]:
    """An experiment's config and plan, with a learning rule of this module's (blamed as
    plugin 'ahead') and other hidden layers if given."""
    config = REGISTRY.experiment(name).model_copy(update=changes)
    plan = REGISTRY.resolve(config)
    nonlinearities = plan.nonlinearities
    if hidden is not None:
        config = config.model_copy(update={"layers": [3, *[4] * len(hidden), 1], "weights": None,
                                           "frozen": []})
        nonlinearities = (*hidden, plan.nonlinearities[-1])
    strategy = plan.strategy if rule is None else Strategy("ahead", plan.strategy.plan, learn=rule)
    return config, Plan(nonlinearities, strategy, plan.batches, authors={__name__: "ahead 0.1"},
                        options=plan.options)


def steps(config: ExperimentConfig, plan: Plan,
          weights: Sequence[Array] | None = None) -> list[Step]:
    network = Network.from_config(config, plan)
    if weights is not None:
        network.weights = [w.copy() for w in weights]
    kept: list[Step] = []
    network.train(*training_data(config), config.iterations,
                  lambda epoch, samples, step: kept.append(
                      step._replace(weights=tuple(w.copy() for w in step.weights))))
    return kept


CASES = [("ch06-streetlights-backprop", None), ("streetlights-minibatch", None),
         ("ch05-freeze-one-weight", None), ("ch06-streetlights-backprop-ascent-form", None),
         ("ch06-streetlights-backprop", (LEAKY,)), ("streetlights-minibatch", (SILU, LEAKY))]


@pytest.mark.parametrize("arithmetic", ["exact", "blas"])
@pytest.mark.parametrize(("name", "hidden"), CASES)
def test_the_gradient_at_the_steps_own_weights_is_gradient_bit_for_bit(
        name: str, hidden: tuple[Nonlinearity, ...] | None, arithmetic: str) -> None:
    compared: list[int] = []

    def both(step: LearningStep) -> Learned:
        ahead, own = step.gradient(at=step.weights), step.gradient()
        assert [a.tobytes() for a in ahead] == [o.tobytes() for o in own]
        compared.append(1)
        return Learned(own)

    config, plan = setup(name, both, hidden, arithmetic=arithmetic)
    assert len(steps(config, plan)) == len(compared) > 0


def test_the_first_look_ahead_of_chapter_6_in_numbers() -> None:
    """At the seeded weights, sample 0 ([1, 0, 1] -> 1): layer_2 = 0.3919432663396042, and
    weights_1_2's weight_delta is layer_1ᵀ · (layer_2 - 1), only the one relu let through."""
    seen: list[list[Array]] = []

    def rule(step: LearningStep) -> Learned:
        seen.append(step.gradient(at=step.weights))
        return Learned(seen[-1])

    config, plan = setup("ch06-streetlights-backprop", rule, iterations=1)
    steps(config, plan)
    assert seen[0][1].tolist() == [[0.0], [-0.3151451366345312], [0.0], [0.0]]
    assert seen[0][0].tolist() == [[0.0, -0.4598337066238415, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0],
                                   [0.0, -0.4598337066238415, 0.0, 0.0]]


@pytest.mark.parametrize("arithmetic", ["exact", "blas"])
@pytest.mark.parametrize(("name", "hidden"), CASES)
def test_the_gradient_at_other_weights_is_the_first_step_of_a_network_there(
        name: str, hidden: tuple[Nonlinearity, ...] | None, arithmetic: str) -> None:
    """At every step, the look-ahead at other weights (the step's, moved by 0.3 times their
    own weight_deltas, then scaled) is bit for bit the weight_delta the engine's own step
    makes on the same batch for a network that has those weights."""
    config, plan = setup(name, None, hidden, arithmetic=arithmetic)
    batches = [list(batch) for batch in plan.batches]
    inputs, goals = training_data(config)
    assert goals is not None
    looked: list[tuple[list[Array], list[Array], list[Array], list[int]]] = []

    def rule(step: LearningStep) -> Learned:
        own = step.gradient()
        other = [w * 1.5 - 0.25 for w in step.weights_after([0.3 * g for g in own])]
        batch = batches[len(looked) % len(batches)]
        looked.append((other, step.gradient(at=other), own, batch))
        return Learned(own)

    config, plan = setup(name, rule, hidden, arithmetic=arithmetic, iterations=3)
    steps(config, plan)
    assert len(looked) == 3 * len(batches)
    # (a frozen weight's weight_delta is zeroed by the update, not by the gradient)
    unfrozen = config.model_copy(update={"frozen": []})
    for other, gradient, _own, batch in looked:
        there = Network.from_config(unfrozen, setup(name, None, hidden, arithmetic=arithmetic)[1])
        there.weights = [w.copy() for w in other]
        step = there.step(inputs[batch], goals[batch])
        assert [g.tobytes() for g in gradient] == [d.tobytes() for d in step.weight_delta]
    # and they are other numbers than the step's own: a look-ahead, not a copy
    moved = sum(not np.array_equal(gradient[-1], own[-1]) for _, gradient, own, _ in looked)
    assert moved >= len(looked) // 2


def stripped(events: list[Event], kinds: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The events as data without their numbering (and without ``kinds``)."""
    return [event.model_dump(exclude={"seq"}) for event in events if event.kind not in kinds]


def test_a_look_ahead_leaks_into_no_event() -> None:
    """A rule that looks far ahead (3w + 1) but moves by gradient(): its trace is, event
    for event, the trace of the rule that moves by gradient() alone (the same forward,
    delta and update numbers); a rule that calls only gradient(at=step.weights) has the
    same trace without its delta events."""
    def plain(step: LearningStep) -> Learned:
        return Learned(step.gradient())

    def looking(step: LearningStep) -> Learned:
        far = step.gradient(at=[3 * w + 1 for w in step.weights])
        assert far[0].shape == (3, 4)
        return Learned(step.gradient())

    def only_ahead(step: LearningStep) -> Learned:
        return Learned(step.gradient(at=step.weights))

    traces = {}
    for rule in (plain, looking, only_ahead):
        config, plan = setup("ch06-streetlights-backprop", rule)
        events: list[Event] = []
        run(config, plan, events.append)
        traces[rule.__name__] = events
    assert len(traces["plain"]) == 60 * (4 * 7 + 1)  # 2 forward, error, 2 delta, 2 update a step
    assert traces["looking"] == traces["plain"]
    assert len(traces["only_ahead"]) == 60 * (4 * 5 + 1)
    assert not [e for e in traces["only_ahead"] if e.kind == "delta"]
    assert stripped(traces["only_ahead"]) == stripped(traces["plain"], ("delta",))
    last = traces["plain"][-1]
    assert last.kind == "epoch_end" and last.error == 1.5055622665134859e-05  # the book's run


@pytest.mark.parametrize("name", ["ch05-freeze-one-weight", "ch06-streetlights-backprop-ascent-form"])
def test_the_weights_after_are_the_engines_update_frozen_and_ascent_included(name: str) -> None:
    """weights_after(d) is what the engine leaves when the rule returns d, bit for bit: a
    frozen weight unmoved, the ascent form adding."""
    config = REGISTRY.experiment(name)
    assert config.frozen if name.startswith("ch05") else config.ascent
    predicted: list[list[Array]] = []

    def rule(step: LearningStep) -> Learned:
        deltas = step.gradient()
        predicted.append(step.weights_after(deltas))
        return Learned(deltas)

    made = steps(*setup(name, rule))
    assert len(made) == len(predicted) > 0
    for step, weights in zip(made, predicted, strict=True):
        assert [w.tobytes() for w in step.weights] == [w.tobytes() for w in weights]


def failure(rule: Rule, weights: Sequence[Array] | None = None) -> str:
    config, plan = setup("ch06-streetlights-backprop", rule, iterations=2)
    with pytest.raises(PluginError) as raised:
        steps(config, plan, weights)
    return str(raised.value)


RULE = "plugin ahead 0.1: strategy 'ahead' learning rule "


def test_wrong_weights_for_a_look_ahead_are_one_line_naming_the_plugin() -> None:
    def transposed(step: LearningStep) -> Learned:
        return Learned(step.gradient(at=[w.T for w in step.weights]))

    def one_short(step: LearningStep) -> Learned:
        return Learned(step.gradient(at=step.weights[:1]))

    def words(step: LearningStep) -> Learned:
        return Learned(step.gradient(at=["ahead", "behind"]))

    def not_finite(step: LearningStep) -> Learned:
        ahead = [w.copy() for w in step.weights]
        ahead[1][2, 0] = np.nan
        return Learned(step.gradient(at=ahead))

    def wrong_deltas(step: LearningStep) -> Learned:
        return Learned(step.gradient(at=step.weights_after([np.zeros((1, 4)), np.zeros((4, 1))])))

    assert failure(transposed) == (RULE + "gave step.gradient(at=...) weights with weights_0_1 of "
                                   "shape (4, 3), not the step's (3, 4)")
    assert failure(one_short) == (RULE + "gave step.gradient(at=...) weights of 1 matrices; the "
                                  "network has 2 (weights_0_1 ... weights_1_2)")
    assert failure(words) == (RULE + "gave step.gradient(at=...) weights that are not arrays of "
                              "numbers (could not convert string to float: 'ahead')")
    assert failure(not_finite) == (RULE + "gave step.gradient(at=...) a weight that is not finite "
                                   "(weights_1_2[2, 0] = nan) while the step's weights are all "
                                   "finite")
    assert failure(wrong_deltas) == (RULE + "gave step.weights_after() weight_deltas with "
                                     "weights_0_1 of shape (1, 4), not the step's (3, 4)")
    for message in map(failure, (transposed, one_short, words, not_finite, wrong_deltas)):
        assert "\n" not in message


def test_a_step_kept_for_later_is_one_line_naming_the_plugin() -> None:
    """A rule that keeps the step and asks it for a gradient in the next step."""
    def keeper(step: LearningStep) -> Learned:
        earlier = step.state.get("step")
        step.state["step"] = step
        if earlier is not None:
            earlier.gradient(at=step.weights)
        return Learned(step.gradient())

    def keeper_of_weights_after(step: LearningStep) -> Learned:
        earlier = step.state.get("step")
        step.state["step"] = step
        if earlier is not None:
            earlier.weights_after(step.gradient())
        return Learned(step.gradient())

    def keeper_of_gradient(step: LearningStep) -> Learned:
        earlier = step.state.get("step")
        step.state["step"] = step
        return Learned(step.gradient() if earlier is None else earlier.gradient())

    after = ("after its step was over: a step's gradient and weights are asked for while "
             "learn(step) runs, not kept for later")
    assert failure(keeper) == RULE + "called step.gradient() " + after
    assert failure(keeper_of_gradient) == RULE + "called step.gradient() " + after
    assert failure(keeper_of_weights_after) == RULE + "called step.weights_after() " + after


def test_a_diverged_run_looks_ahead_from_its_inf_and_nan() -> None:
    """Not finite at= weights are refused only while the step's own are finite: a run that
    has diverged (here one weight inf from the start) records on, as any run does."""
    config, plan = setup("ch06-streetlights-backprop", None, iterations=2)
    weights = [w.copy() for w in Network.from_config(config, plan).weights]
    weights[1][1, 0] = np.inf

    def rule(step: LearningStep) -> Learned:
        return Learned(step.gradient(at=[2 * w for w in step.weights]))

    made = steps(*setup("ch06-streetlights-backprop", rule, iterations=2), weights)
    assert len(made) == 8
    assert np.isnan(made[-1].weights[1]).any()


PLUGIN = """
    import numpy as np
    from steptrace import Learned, Strategy, hookimpl

    def learn(step):
        return Learned(step.gradient(at=[w.T for w in step.weights]))

    @hookimpl
    def register_strategies(register):
        register(Strategy("transposer", lambda n, options: [[i] for i in range(n)], learn=learn))
"""


def test_from_the_command_line_a_wrong_look_ahead_is_one_error_line(run_cli: RunCli,
                                                                     tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    path = folder / "transposer.py"
    path.write_text(textwrap.dedent(PLUGIN))
    config = REGISTRY.experiment("ch06-streetlights-backprop").model_dump(mode="json")
    config.update(name="transposed", strategy={"name": "transposer"})
    experiment = tmp_path / "transposed.json"
    import json

    experiment.write_text(json.dumps(config))
    result = run_cli("--plugins-dir", folder, "record", experiment, "-o", tmp_path / "t.jsonl",
                     env={"STEPTRACE_PLUGINS": "transposer"})
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith(
        f"Error: plugin transposer ({path}): strategy 'transposer' learning rule gave "
        "step.gradient(at=...) weights with weights_0_1 of shape (4, 3), not the step's (3, 4); ")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
