"""What a plugin contributes to the engine: a nonlinearity, a strategy, a learning rule.

All are plain frozen dataclasses and functions. The core never names one: it looks
rules up by the name a plugin registered them under (see :mod:`steptrace.plugins.registry`).
The book's gradient descent is the default learning rule (:func:`gradient_descent`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Literal

from steptrace.matrices import Array as Array

Batches = Sequence[Sequence[int]]


def doc(text: str, **default: Any) -> Any:
    """A dataclass field with its documentation (and ``default=`` or
    ``default_factory=``): docs/plugin-reference.md lists every field with it."""
    return field(metadata={"doc": text}, **default)


@dataclass(frozen=True)
class Option:
    """One option a strategy or a nonlinearity takes: its type (``float``, ``int``,
    ``bool`` or ``str``; an int is taken where a float is declared, and becomes one), its
    default (``None``: the option has none, and a strategy that needs it says so from
    ``plan``; a nonlinearity's options all have one), and one line of doc. ``steptrace
    plugins`` lists them."""

    type: type = doc("float, int, bool or str (an int is taken where a float is declared)")
    default: Any = doc("the value when a config gives none (None: no default)", default=None)
    doc: str = doc("one line: what the option does", default="")

    def describe(self) -> str:
        """``float, default 0.9: how much of the last velocity is kept``."""
        text = self.type.__name__ + ("" if self.default is None else f", default {self.default!r}")
        return f"{text}: {self.doc}" if self.doc else text


@dataclass(frozen=True)
class Nonlinearity:
    """An activation and its derivative, the book's way.

    ``derivative`` takes the layer's *output* (what ``function`` returned), as the
    book's ``relu2deriv(output)`` does: ``output > 0`` for relu, ``output*(1-output)``
    for sigmoid, ``1-output**2`` for tanh. Both work elementwise on float64 arrays.

    ``formula`` and ``derivative_formula`` are not printed by ``show``, ``html`` or
    ``plugins``: the narration writes a layer by its nonlinearity's name
    (``relu(layer_0 · weights_0_1)``) and a delta by its derivative's
    (``relu2deriv(layer_1)``), and reads the formulas for two things alone (as the live
    page's narration does): a ``formula`` of ``"x"`` writes the layer as its weighted sum,
    no function named, and a ``derivative_formula`` of ``"1"`` leaves the derivative out
    of the delta. ``derivative_formula`` is printed where a derivative is in question:
    ``check_nonlinearity``'s failure (``derivative 'output > 0' from the output disagrees
    with finite differences at x = ...``) and the likely mistakes ``steptrace check``
    names (``sigmoid2deriv(output) = output * (1 - output)``).

    A nonlinearity whose output does not tell its input apart (GELU, SiLU, Mish: not
    monotonic, so one output comes from two inputs) declares ``derivative_of="input"``:
    its derivative is then handed the layer's weighted sum, the input of ``function``.

    ``options`` declares what a config may set per layer (``{name = "leaky_relu", slope =
    0.2}``), each an :class:`Option` with a default (a bare name means the defaults): the
    engine calls ``function(x, **options)``, ``derivative(output, **options)`` (or of the
    input) and ``fast(x, **options)`` with every declared option, checked, the defaults
    filled in. A nonlinearity without options is called with the array alone.

    Exact mode promises the same bits on every machine, so ``function`` and
    ``derivative`` must be portable: basic arithmetic (``+ - * /``, comparisons), and for
    anything transcendental the functions of :mod:`steptrace.portable` (``exp``,
    ``expm1``, ``log1p``, ``tanh``, ``sigmoid``), never ``np.exp``/``np.tanh``/``np.log``,
    whose last bits depend on the CPU. ``fast``, if given, is the same function written
    with numpy's own (faster, machine-dependent) functions: blas mode uses it, exact mode
    never does.
    """

    name: str = doc("what configs call it: nonlinearities = [\"relu\", \"linear\"]")
    function: Callable[..., Array] = doc(
        "the activation, elementwise on a float64 array (a batch's rows), called with the "
        "options as keywords (function(x, slope=0.2)): portable in exact mode (basic "
        "arithmetic and steptrace.portable)")
    derivative: Callable[..., Array] = doc(
        "its derivative, elementwise, from the layer's output (what function returned), or "
        "from the weighted sum with derivative_of=\"input\"; called with the options as "
        "keywords too")
    formula: str = doc(
        "the activation, as a formula of x: \"(x > 0) * x\"; not printed: \"x\" (linear) makes "
        "the narration write the layer as its weighted sum, no function named")
    derivative_formula: str = doc(
        "the derivative, as a formula of output (or of x with derivative_of=\"input\"): "
        "\"output > 0\"; printed by check_nonlinearity's failure and steptrace check's likely "
        "mistakes; \"1\" makes the narration leave the derivative out of the delta")
    derivative_name: str = doc("the derivative's name in the narration (default NAME2deriv)",
                               default="")
    description: str = doc("one line for listings", default="")
    derivative_is_one: bool = doc(
        "the derivative is 1 everywhere (a linear layer): the engine skips multiplying by it "
        "(x * 1.0 == x bit for bit: speed, never numbers)", default=False)
    fast: Callable[..., Array] | None = doc(
        "function with numpy's machine-tuned functions (np.tanh): blas mode uses it, exact "
        "mode never", default=None)
    revision: int = doc(
        "bumped by its plugin whenever the numbers it computes change (not for a release that "
        "leaves them alone): replay refuses a trace of another revision", default=1)
    options: Mapping[str, Option | type] = doc(
        "the options a config may give it per layer, by name: an Option(type, default, doc), "
        "each with a default (a bare name in nonlinearities means the defaults)",
        default_factory=dict)
    derivative_of: Literal["output", "input"] = doc(
        "what derivative is handed: \"output\", the layer's output as the book's "
        "relu2deriv(output); \"input\", the weighted sum (for an activation that is not "
        "monotonic: GELU, SiLU, Mish)", default="output")

    def __post_init__(self) -> None:
        if self.derivative_of not in ("output", "input"):
            raise ValueError(f"nonlinearity {self.name}: derivative_of is \"output\" or "
                             f"\"input\", not {self.derivative_of!r}")
        for key, option in self.declared.items():
            if option.default is None:
                raise ValueError(f"nonlinearity {self.name}: option {key} needs a default (a "
                                 "bare name in nonlinearities means every option's default)")

    @property
    def deriv_name(self) -> str:
        """The name the narration uses for the derivative (``relu2deriv``)."""
        return self.derivative_name or f"{self.name}2deriv"

    @property
    def declared(self) -> dict[str, Option]:
        """Each option as an :class:`Option` (a bare type made one)."""
        return {name: option if isinstance(option, Option) else Option(option)
                for name, option in self.options.items()}

    def with_options(self, options: Mapping[str, Any]) -> Nonlinearity:
        """This nonlinearity with ``function``, ``derivative`` and ``fast`` taking the array
        alone: each called with every declared option (``options`` over the defaults; they
        are not checked here, see ``Registry.resolve``). Itself when it declares none. (The
        registry holds each nonlinearity so bound to its defaults: ``function(x)`` works.)"""
        if not self.options:
            return self
        values = {key: option.default for key, option in self.declared.items()}
        values.update(options)
        return replace(self, function=partial(self.function, **values),
                       derivative=partial(self.derivative, **values),
                       fast=None if self.fast is None else partial(self.fast, **values))


@dataclass(frozen=True)
class LearningStep:
    """What a learning rule sees of one step, after the forward pass and the error.

    ``predict(weights)`` runs a forward pass of this step's inputs with other weights
    (same arithmetic, no events); ``error_of(prediction)`` is the book's summed squared
    error against this step's goal; ``gradient()`` runs the book's backpropagation for
    this step and returns gradient descent's weight_deltas, averaged over the batch (its
    deltas are then part of the step: a trace holds them as ``delta`` events; it is worked
    out once a step, and a second call returns the same numbers). ``state`` is the
    rule's own dict, kept from step to step for the whole run (momentum keeps its velocity
    there) and empty at the start of every run, so a replay sees the same. Nothing else
    may be mutated.

    **Look-ahead.** ``gradient(at=weights)`` is the gradient at weights of the rule's
    choosing (one array of each of ``weights``' shapes), as Nesterov's accelerated
    gradient needs it at ``w - alpha * beta * velocity``: a forward pass of this step's
    batch with those weights, then the book's backpropagation through them, averaged over
    the batch, in exactly the arithmetic of the step's own (exact mode's fixed-order
    sums, or blas mode's np.dot; the layers' nonlinearities with their options, a
    derivative of the input handed that pass's weighted sum); ``gradient(at=step.weights)``
    is ``gradient()``, bit for bit. It is worked out at every call, and **not traced**: a
    ``delta`` event is the backpropagation of the step's own forward pass (the narration
    writes it with that pass's ``layer_k`` and the weights before the update, and a
    trace's reader derives from it), and a look-ahead comes from a pass the trace does
    not hold. So the step's ``delta`` events are those of ``gradient()`` when the rule
    calls it (whatever else it calls), and there are none when it calls only
    ``gradient(at=...)`` (as for hot and cold); the forward events are the step's own
    either way. What the look-ahead decided is in the ``update`` events, whose
    ``weight_delta`` a rule's update always carries: replay re-executes the rule and
    re-checks them bit for bit. ``weights_after(weight_deltas)`` gives the weights the
    engine's update would leave (``w - alpha * weight_delta``, ``+`` in the book's ascent
    form, frozen weights unmoved): Nesterov's look-ahead is ``weights_after([beta * v for v
    in velocity])``. Weights of the wrong number or shape, a weight that is not finite (while
    the step's are; a diverged run looks ahead from its inf and NaN), or either called
    after ``learn(step)`` returned is one ``Error:`` line naming the plugin.
    """

    layer_0: Array = doc("this step's inputs: one row per sample of the batch (read-only)")
    goal: Array = doc("this step's goals, one row per sample (read-only)")
    weights: Sequence[Array] = doc("weights_0_1, weights_1_2, ... before the update (read-only)")
    prediction: Array = doc("the output layer of this step's forward pass")
    error: float = doc("the book's error of this step: sum((prediction - goal) ** 2)")
    options: Mapping[str, Any] = doc("the strategy's options, checked, defaults filled in")
    predict: Callable[[Sequence[Array]], Array] = doc(
        "predict(weights): a forward pass of this step's inputs with other weights (no events)")
    error_of: Callable[[Array], float] = doc(
        "error_of(prediction): the book's summed squared error against this step's goal")
    gradient: Callable[..., list[Array]] = doc(
        "gradient(): the book's backpropagation: gradient descent's weight_deltas, averaged "
        "over the batch; its deltas become the step's delta events (worked out once a step). "
        "gradient(at=weights): the same at other weights (a look-ahead, as Nesterov's): the "
        "same arithmetic, batch and averaging, never traced")
    weights_after: Callable[[Sequence[Array]], list[Array]] = doc(
        "weights_after(weight_deltas): the weights the engine's update would leave, "
        "w - alpha * weight_delta (+ in the ascent form), frozen weights unmoved: a "
        "look-ahead for gradient(at=...)")
    state: dict[str, Any] = doc(
        "the rule's own dict for the run: kept from step to step, empty at the start of every "
        "run (and of its replay)")


@dataclass(frozen=True)
class Learned:
    """A learning rule's answer: one weight_delta per weight matrix (the engine applies
    ``weights -= alpha * weight_delta``), and the numbers that decided it, by name."""

    weight_deltas: Sequence[Array] = doc(
        "one per weight matrix, its shape: the engine does weights -= alpha * weight_delta")
    details: Mapping[str, float] = doc(
        "the numbers that decided it, by name: update events carry them",
        default_factory=dict)


@dataclass(frozen=True)
class Strategy:
    """A strategy: which samples form each weight update, and (optionally) how weights move.

    ``plan(n_samples, options)`` returns, for one pass over the data, the list of
    batches (lists of sample indices, in order). The engine runs forward and error on
    each batch and makes one update per batch. ``plan`` raises ``ValueError`` with a
    one-line message when an option's value is wrong. ``options`` declares the options
    the strategy takes, each an :class:`Option` (type, default, doc; a bare type is an
    option without default or doc): they are checked before ``plan`` is called, and
    ``plan`` and ``learn`` get them with the defaults filled in.

    ``learn(step) -> Learned`` decides how the weights move; by default it is the book's
    :func:`gradient_descent`: deltas backwards, then ``weights -= alpha * layer_inᵀ ·
    delta`` averaged over the batch. A strategy with a rule of its own (the book's hot and
    cold learning, momentum, Nesterov) gives its ``learn``: each ``update`` event then
    names the strategy and carries the rule's ``details``; ``delta`` events are traced when
    (and only when) the rule calls ``step.gradient()`` (a look-ahead,
    ``step.gradient(at=...)``, is never traced: see :class:`LearningStep`).
    """

    name: str = doc("what configs call it: [strategy] name = \"minibatch\"")
    plan: Callable[[int, Mapping[str, Any]], Batches] = doc(
        "plan(n_samples, options): one pass's batches, lists of sample indices in order "
        "(ValueError with one line when an option's value is wrong)")
    options: Mapping[str, Option | type] = doc(
        "the options it takes, by name: an Option(type, default, doc), or a bare type",
        default_factory=dict)
    description: str = doc("one line for listings", default="")
    learn: Callable[[LearningStep], Learned] = doc(
        "learn(step) -> Learned: how weights move (default: the book's gradient_descent)",
        default_factory=lambda: gradient_descent)
    revision: int = doc(
        "bumped by its plugin whenever the batches or the weights it makes change (not for a "
        "release that leaves them alone): replay refuses a trace of another revision",
        default=1)

    @property
    def declared(self) -> dict[str, Option]:
        """Each option as an :class:`Option` (a bare type made one)."""
        return {name: option if isinstance(option, Option) else Option(option)
                for name, option in self.options.items()}

    @property
    def own_rule(self) -> bool:
        """Whether weights move by a rule of the strategy's own, not gradient descent."""
        return self.learn is not gradient_descent


def gradient_descent(step: LearningStep) -> Learned:
    """The book's learning rule: each weight_delta is ``layer_{k-1}ᵀ · layer_k_delta``,
    averaged over the batch (the engine then does ``weights -= alpha * weight_delta``)."""
    return Learned(step.gradient())
