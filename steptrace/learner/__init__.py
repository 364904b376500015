"""A learner's own numpy script, traced and checked step by step against the book.

- :mod:`~steptrace.learner.names` — the variable names the book uses, and the role each plays;
- :mod:`~steptrace.learner.capture` — the child process's side: run the script under
  Python's tracing and record each assignment to those names (stdlib and numpy only);
- :mod:`~steptrace.learner.runner` — the parent's side: start that child (timeout, limits),
  read its records back, and say in one line why a script failed;
- :mod:`~steptrace.learner.timeline` — the assignments grouped into steps and passes;
- :mod:`~steptrace.learner.mapping` — the network they describe (sizes, nonlinearities,
  alpha, strategy), as an experiment config and the trace's steps;
- :mod:`~steptrace.learner.operands` — a step's operands among the learner's values;
- :mod:`~steptrace.learner.rules` — the book's rule for an assignment with those operands,
  computed with the engine's formulas (:mod:`steptrace.engine.formulas`);
- :mod:`~steptrace.learner.check` — each step recomputed from the learner's own values
  before it, in lockstep, to the first disagreement, and the run as a whole
  (:mod:`~steptrace.learner.whole_run`);
- :mod:`~steptrace.learner.mistakes` — the common mistakes, each a way to recompute a step
  wrongly, tried on a disagreement to name it; :mod:`~steptrace.learner.differences` says
  how a value differs where none does;
- :mod:`~steptrace.learner.causes` — where numpy raised: the first value whose shape (or
  kind of number) is not the book's;
- :mod:`~steptrace.learner.as_trace` — the learner's run written as an ordinary trace;
- :mod:`~steptrace.learner.services` — what ``trace`` and ``check`` do, for the command
  line and the API alike;
- :mod:`~steptrace.learner.against` — the run beside a built-in experiment (data, weights,
  alpha, printed output);
- :mod:`~steptrace.learner.report` — what ``check`` says, as text and as JSON;
- :mod:`~steptrace.learner.magic` — Jupyter's ``%%steptrace_check`` cell magic, which hands
  the cell what it takes from earlier cells: :mod:`~steptrace.learner.reads` (the names a
  cell reads before it binds them), :mod:`~steptrace.learner.handover` (which of the
  kernel's values can be handed over), :mod:`~steptrace.learner.prelude` (those values,
  written for the child process and set up there before the cell's first line).

``steptrace.trace_script`` and ``steptrace.check_script`` (:mod:`steptrace.api`) and the
commands ``steptrace trace`` and ``steptrace check`` are the way in.
"""
