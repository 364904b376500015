"""The order of a run's events: which event may follow which.

A run's events come, step by step (one batch each), in the order the book computes it::

    forward 1 … forward L        every layer, input to output
    error L                      when the run has goals
    delta L … delta 1            gradient descent (a learning rule may ask for them, or not;
                                 steptrace before trace schema 3 wrote them once for every
                                 time a rule asked, so a round may repeat)
    update L … update 1          when the run trains: the last weights first

and ends every pass with ``epoch_end``, whose ``samples`` are the pass's batches one
after the other (its ``error`` there exactly when the run has goals; its ``test_error``
exactly when the config has held-out rows, which the reader checks with the event's
shapes, :func:`steptrace.trace.consistency.consistency_problem`, for every reader, replay too).
Every event of a step has the step's epoch and samples. An ``epoch``
detail trace holds the ``epoch_end`` events alone, one per pass.

:class:`EventOrder` checks a trace's events against this as they are read, so that every
reader (show, html, plot, diff) meets only sequences a run can make: a reordered or
spliced trace is refused with the line it went wrong at, not met as a crash later.
"""

from __future__ import annotations

from steptrace.config import ExperimentConfig
from steptrace.trace.events import Event, UpdateEvent

_FIRST = ("forward", 1)  # a step's first event
_START = frozenset({_FIRST})


class EventOrder:
    """The state of a run being read: what may come next."""

    def __init__(self, config: ExperimentConfig, epochs_only: bool) -> None:
        self.last = len(config.layers) - 1  # the output layer
        self.errors = config.goals is not None
        self.learning = config.train
        self.epochs_only = epochs_only
        self.strategy = config.strategy.name
        self.iterations = config.iterations
        self.epoch = 0  # the pass being read
        self.step: tuple[int, ...] | None = None  # the samples of the step being read
        self.pass_samples: list[int] = []  # the samples of the pass's steps so far
        self.previous: tuple[str, int] | None = None  # (kind, layer) of the step's last event
        self.rule: str | None = None  # updates' rule (None: gradient descent), once seen
        self.rule_seen = False
        #: (kind, layer) of the events that may come next within a pass (``_expected``)
        self.expected = _START
        #: (kind, layer): what may come after it (``_expected``), worked out once (anew once
        #: the run's updates show whether a rule made them)
        self._after: dict[tuple[str, int], frozenset[tuple[str, int]]] = {}

    def problem(self, event: Event) -> str | None:
        """Why ``event`` cannot come next, or None (and the state moves on)."""
        kind = event.kind
        if kind == "epoch_end":
            return self._epoch_end(event)
        if self.epochs_only:
            return f"a {kind} event in a trace of epoch detail (passes only)"
        if event.epoch != self.epoch:
            return f"a {kind} event of epoch {event.epoch} in epoch {self.epoch}"
        step = (kind, event.layer)
        if step not in self.expected:
            wanted = " or ".join(f"{kind} of layer {layer}" for kind, layer in sorted(self.expected))
            return f"{kind} of layer {event.layer} where {wanted} comes next"
        if step == _FIRST:
            self.step = event.samples
            self.pass_samples.extend(event.samples)
        elif event.samples != self.step:
            return (f"{kind} of samples {list(event.samples)} in the step of samples "
                    f"{list(self.step or ())}")
        if kind == "update":
            found = self._rule(event)  # type: ignore[arg-type]
            if found is not None:
                return found
        self.previous = step
        after = self._after.get(step)
        if after is None:
            after = self._after[step] = frozenset(self._expected())
        self.expected = after
        return None

    def _expected(self) -> set[tuple[str, int]]:
        """(kind, layer) of the events that may come next within a pass."""
        start = {("forward", 1)}
        if self.previous is None:
            return start
        kind, k, last = *self.previous, self.last
        if kind == "forward":
            if k < last:
                return {("forward", k + 1)}
            return {("error", last)} if self.errors else start
        if kind == "error":
            return {("delta", last), ("update", last)} if self.learning else start
        if kind == "delta":
            if k > 1:
                return {("delta", k - 1)}
            again = not (self.rule_seen and self.rule is None)  # a rule may ask again
            return {("update", last)} | ({("delta", last)} if again else set())
        # an update
        return {("update", k - 1)} if k > 1 else start

    def _rule(self, event: UpdateEvent) -> str | None:
        if not self.rule_seen:
            self.rule, self.rule_seen = event.rule, True
            self._after.clear()  # (what follows a delta of layer 1 depends on it)
        if event.rule != self.rule:
            return f"an update by rule {event.rule!r} in a run whose updates were by {self.rule!r}"
        if event.rule is not None and event.rule != self.strategy:
            return f"an update by rule {event.rule!r}; the config's strategy is {self.strategy!r}"
        if (event.rule is None) != (event.details is None):
            return "an update with a rule must carry its details, and one without, none"
        if event.rule is not None and event.weight_delta is None:
            return "an update by a learning rule without its weight_delta"
        if self.previous is not None and self.previous[0] == "error" and event.rule is None:
            return "a gradient-descent update without its deltas"
        return None

    def _epoch_end(self, event: Event) -> str | None:
        if event.epoch != self.epoch:
            return f"the end of epoch {event.epoch} where epoch {self.epoch} ends"
        if not self.epochs_only:
            if self.step is None:
                return "the end of a pass that had no step"
            if self.expected != {("forward", 1)}:
                return "the end of a pass in the middle of a step"
            if list(event.samples) != self.pass_samples:
                return (f"the end of a pass naming samples {list(event.samples)[:20]}; the pass's "
                        f"steps were of samples {self.pass_samples[:20]}")
        if (getattr(event, "error", None) is None) == self.errors:
            return ("an end of pass without the pass's error" if self.errors
                    else "an end of pass with an error, in a run without goals")
        self.epoch += 1
        self.step, self.previous, self.pass_samples = None, None, []
        self.expected = _START
        return None

    # -- a pass like the last: what the reader holds it to (TraceReader.__iter__) ----------

    def start(self) -> tuple[object, ...] | None:
        """What the order of a pass's steps depends on, at the start of a pass (None in the
        middle of one): a pass whose steps the full check took from this start takes the
        same steps again from the same start."""
        if self.previous is not None or self.epochs_only:
            return None
        return (self.rule, self.rule_seen)

    def steps_done(self) -> tuple[object, ...]:
        """The state the steps of the pass being read have left, before its end."""
        return (self.step, tuple(self.pass_samples), self.previous, self.expected)

    def resume(self, done: tuple[object, ...]) -> None:
        """Move on from the start of a pass to the end of its steps, ``done`` (what
        :meth:`steps_done` said at the end of a pass of the same steps, from the same
        :meth:`start`)."""
        step, samples, previous, expected = done
        self.step, self.previous = step, previous  # type: ignore[assignment]
        self.expected = expected  # type: ignore[assignment]
        self.pass_samples = list(samples)  # type: ignore[call-overload]

    def end_problem(self, complete: bool) -> str | None:
        """Why the trace cannot end here, or None. An incomplete trace may end anywhere."""
        if complete and (self.epoch != self.iterations or self.step is not None):
            return (f"the trace says it is complete after {self.epoch} pass(es); its config runs "
                    f"{self.iterations}")
        return None
