"""The trace: events, and the JSON Lines file that holds them.

- :mod:`~steptrace.trace.events`: the typed events (one Pydantic model per kind of step);
- :mod:`~steptrace.trace.emitter`: a computed step turned into events, at a trace's detail;
- :mod:`~steptrace.trace.header`: the header and end lines, what each detail level holds,
  and the JSON Schema;
- :mod:`~steptrace.trace.writer` / :mod:`~steptrace.trace.reader`: the file, streamed;
- :mod:`~steptrace.trace.order`: the order a run's events come in, checked as they are read;
- :mod:`~steptrace.trace.state`: a trace's events replayed into the network's state
  (weights before and after each update, layers, deltas), for every reader.
"""
