"""Replay: re-execute a trace from its header's config and check every event.

The recorded events are read as a stream and compared, in lockstep, with the events of
the same run made again (the engine's steps, through :mod:`steptrace.trace.emitter`); the
first divergence stops the run with :class:`~steptrace.errors.Mismatch` naming the event
and the field. Memory does not grow with the trace.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from steptrace.compare import DEFAULT_TOLERANCE, Tolerance, difference, differences, summary
from steptrace.engine.network import Network
from steptrace.errors import BadInput, ConfigError, Mismatch
from steptrace.matrices import Matrix
from steptrace.plugins.loading import allowed_plugins, installed_plugin
from steptrace.plugins.registry import Provided, Registry
from steptrace.recording import (
    Progress,
    header_for,
    train_at_detail,
    unlike_registered,
)
from steptrace.trace.emitter import Record, record_json, typed
from steptrace.trace.header import End, Fingerprint, Header, computed_elsewhere, plugin_of
from steptrace.trace.reader import TraceReader, open_trace
from steptrace.trace.writer import line_nonfinite


class _RecordedPartChecked(Exception):
    """Every event of an incomplete trace has been checked: stop the re-run there."""


@dataclass
class ReplayResult:
    events: int
    tolerance: Tolerance
    header: str  # what the header was checked against
    warnings: list[str] = field(default_factory=list)

    def describe(self, path: Path | str) -> str:
        return (f"{path}: all {self.events} events match ({self.tolerance.describe()})\n"
                f"{path}: {self.header}")


class RuleNote(NamedTuple):
    """A note on a rule the replay runs otherwise provided than the trace's: what it warns
    (``text``), and what it says as a divergence's likely cause (``diverged``)."""

    text: str
    diverged: str


def check_rules(
    header: Header, registry: Registry, path: Path | str, ignore_versions: bool = False
) -> list[RuleNote]:
    """Every rule the trace used must be installed, and compute the same numbers: the same
    revision (a rule's plugin bumps it when its numbers change). Another revision is an
    error (with ``ignore_versions``, a warning); another release of the plugin with the
    same revision is only noted. A rule whose plugin is installed but failed to load is
    said to be so, with why. Messages name the distribution to install, where the trace
    says which it was."""
    fingerprint = header.fingerprint
    warnings: list[RuleNote] = []

    def note(text: str, diverged: str | None = None) -> None:
        warnings.append(RuleNote(text, text if diverged is None else diverged))

    tables: dict[str, dict[str, Provided[Any]]] = {
        "nonlinearity": registry.nonlinearities,
        "strategy": registry.strategies,
        "experiment": registry.experiments,
    }
    for rule, provider in fingerprint.rules.items():
        noun, _, name = rule.partition(":")
        provided = tables.get(noun, {}).get(name)
        plugin, _, version = provider.rpartition(" ")
        dist = fingerprint.distributions.get(plugin)
        install = (f"pip install '{dist}=={version}'" if dist is not None
                   else f"replay with --plugins-dir the folder of {plugin}.py" if version == "file"
                   else f"install the plugin {provider}")
        if provided is None:
            failed = registry.plugins.failed.get(plugin)
            if failed is not None:
                raise BadInput(
                    f"{path}: the trace uses {noun} {name!r} from {provider}, which is "
                    f"installed but {failed} (see the warning above; STEPTRACE_DEBUG=1 shows "
                    "the traceback)"
                )
            allowed = allowed_plugins()
            if allowed is not None and plugin not in allowed and installed_plugin(plugin):
                raise BadInput(f"{path}: the trace uses {noun} {name!r} from {provider}, which "
                               f"STEPTRACE_PLUGINS={','.join(sorted(allowed))} leaves out: add "
                               f"{plugin} to it (or unset it) to replay the trace")
            raise BadInput(f"{path}: the trace uses {noun} {name!r} from {provider}, which is not "
                           f"installed: {install}, then replay it")
        if noun == "experiment":  # its config is held to the header's (check_header)
            if provided.label != provider:
                note(f"experiment {name!r} was recorded with {provider}; installed is "
                     f"{provided.label}")
            continue
        if plugin_of(provided.label) != plugin_of(provider):  # another plugin's rule of the same name
            note(f"{noun} {name!r} was recorded with {provider}; installed is "
                 f"{provided.label}, another plugin's {noun} of the same name (their revisions "
                 "are not comparable: the events say whether its numbers are the same; to "
                 f"replay with the recording's, {install})")
            continue
        recorded, installed = fingerprint.revisions.get(rule, 1), provided.rule.revision
        if recorded != installed:
            message = (f"{noun} {name!r} was recorded with revision {recorded} ({provider}); "
                       f"installed is revision {installed} ({provided.label}): its numbers "
                       "changed")
            if provided.label == provider:  # the same release, its code changed since
                how = (f"{provider} is installed but not the code that recorded it (was the "
                       "rule revised without a new release?): re-record the trace")
            else:
                how = install
            if not ignore_versions:
                raise BadInput(f"{path}: {message}; to replay the trace, {how}, or replay "
                               "with --ignore-versions (it will differ)")
            note(message)
        elif provided.label != provider:
            release = (f"{noun} {name!r} was recorded with {provider}; installed is "
                       f"{provided.label}, the same revision {installed}")
            # (once the replay diverged, the revision is only the plugin's claim)
            note(f"{release} (its numbers did not change)",
                 f"{release}: the plugin claims the same numbers, so either the rule's code "
                 "changed without a new revision (its revision should have been bumped), or "
                 "the trace was edited")
    return warnings


def likely_cause(notes: list[RuleNote], recorded: Fingerprint, here: Fingerprint,
                 arithmetic: str, script: str | None = None) -> str:
    """What a divergence is likely to come from: the notes on the rules (another plugin,
    release or revision than the trace's), or, for the trace of a learner's ``script``
    (:attr:`Header.traced_script`), the script's own code, or that every rule is the
    trace's; and, for a blas trace, where the machine or the numerical libraries differ."""
    where = [f"{what} {there} there, {ours} here"
             for what, there, ours in computed_elsewhere(recorded, here)] if arithmetic == "blas" else []
    if notes:
        cause = "it differs from the recording in its rules: " + "; ".join(n.diverged for n in notes)
    elif script is not None:  # its events are the script's numbers; the replay the book's
        cause = (f"the trace is of {f'{script}, ' if script else ''}a learner's script: its "
                 "events are the script's own numbers, and its code computes this step "
                 "otherwise than the book; `steptrace check "
                 f"{shlex.quote(script) if script else 'SCRIPT'}` names the line")
    else:
        cause = ("every rule is the one that recorded it (the same plugin, release and "
                 "revision): a rule's code changed without a new revision, or the trace was "
                 "edited")
    return cause + ("; blas arithmetic, recorded with " + ", ".join(where) if where else "")


def check_header(path: Path | str, header: Header, expected: Header, registry: Registry) -> str:
    """The header as its config makes it again (``expected``): its initial weights, schema
    version and rules (which plugin made each); and when it says it is a registered
    experiment's, its config against that experiment's (the arithmetic aside, which
    ``record --arithmetic`` may change). Mismatch at the first difference; returns what was
    checked. (The rest of the fingerprint says where the trace was recorded.)"""
    for k, weights in enumerate(expected.initial_weights):
        if weights != header.initial_weights[k]:
            raise Mismatch(f"{path}: header initial weights_{k}_{k + 1} differ from the config's")
    if header.schema_version != expected.schema_version:
        raise Mismatch(f"{path}: the header says schema {header.schema_version}; a trace of its "
                       f"config is schema {expected.schema_version}")
    recorded, rules = header.fingerprint.rules, expected.fingerprint.rules
    experiment = next((rule for rule in recorded if rule.startswith("experiment:")), None)
    if experiment is not None:
        name = experiment.partition(":")[2]
        found = unlike_registered(header.config, registry, name)  # (check_rules: installed)
        if found is not None:
            raise Mismatch(f"{path}: the header's config is not experiment {name!r} as "
                           f"registered: {found.describe('recorded', 'registered')}")
    # (an experiment it does not name: its config is its own, as in traces recorded before
    # fingerprints named experiments; one it names was held to its config just above)
    used, named = ({rule for rule in table if not rule.startswith("experiment:")}
                   for table in (rules, recorded))
    if used != named:
        missing, extra = sorted(used - named), sorted(named - used)
        raise Mismatch(f"{path}: the header's rules are not those of its config:"
                       + (f" missing {missing}" if missing else "")
                       + (f" not used {extra}" if extra else ""))
    if experiment is None:
        unlike = unlike_registered(header.config, registry)
        if unlike is not None:
            return ("the header agrees with its config (its own: named like the registered "
                    f"experiment {header.config.name!r}, but not it: "
                    f"{unlike.describe('ours', 'registered')})")
        return "the header agrees with its config (its own, not a registered experiment's)"
    return f"the header agrees with experiment {name!r} ({recorded[experiment]})"


def replay(
    source: Path | TraceReader,
    registry: Registry,
    tolerance: Tolerance | None = None,
    progress: Progress | None = None,
    ignore_versions: bool = False,
) -> ReplayResult:
    """Re-run the trace at ``source`` (a path, or a reader of one not yet read past its
    header: a trace in memory); raise Mismatch at the first divergent event. Messages
    name the trace as the reader does (a path as given).

    ``progress(epochs_done, epochs, steps_per_epoch)`` is called after every pass.
    """
    # (each event is compared instead of checked for its order)
    reader = open_trace(source, check_order=False) if isinstance(source, Path) \
        else source.without_order_checks()
    with reader as trace:
        path = trace.name
        header = trace.header
        config = header.config
        notes = check_rules(header, registry, path, ignore_versions)
        try:
            plan = registry.resolve(config)
        except ConfigError as error:
            raise ConfigError(f"{path}: the trace's config: {error}") from None
        tolerance = tolerance or DEFAULT_TOLERANCE[config.arithmetic]
        network = Network.from_config(config, plan)
        # (what a traced script printed is the script's, not the config's: taken as it is)
        expected = header_for(config, registry, network, header.detail, header.printed)
        if header.checkpoint_every != expected.checkpoint_every:
            # (checkpoints where the trace has them: none in one from before schema 6, and
            # every K-th pass, the K it states, in one from a steptrace that chose another)
            expected = expected.model_copy(update={"checkpoint_every": header.checkpoint_every})
            expected = expected.model_copy(update={"schema_version": expected.lowest_schema_version(
                max(map(len, network.plan.batches)))})
        header_checked = check_header(path, header, expected, registry)
        count = 0
        nonfinite: int | None = None  # the first event whose line is not all finite
        # (looked for only where an end line may name it: a trace with checkpoints; the
        # reader refuses an index, or a nonfinite, in the end line of any other)
        looking = header.checkpoint_every is not None
        trace.quiet_index = True  # (a wrong index is a Mismatch here, not a warning)

        def check(record: Record) -> None:
            nonlocal count, nonfinite, looking
            raw = trace.next_raw()
            if looking and line_nonfinite(raw, record):
                nonfinite, looking = count, False
            if raw[:-1] == record_json(record):  # the same bytes: the same, valid event
                trace.accept()
            else:  # read the line properly: it may be damaged, or differ within tolerance
                event = typed(record)
                old = trace.parse(raw)
                if isinstance(old, End) and not old.complete:
                    raise _RecordedPartChecked()
                if isinstance(old, End):
                    raise Mismatch(f"{path}: the trace ends after {count} events; the replay "
                                   f"goes on with {summary(event)}")
                found = difference(old, event, tolerance)
                if found is not None:
                    raise Mismatch(f"{path}: replay diverges at {summary(old)}: "
                                   + found.describe("recorded", "recomputed") + "; "
                                   + likely_cause(notes, header.fingerprint,
                                                  expected.fingerprint, config.arithmetic,
                                                  header.traced_script))
            count += 1

        def check_checkpoint(record: Record) -> None:
            raw, checkpoint = trace.read_checkpoint()
            if raw[:-1] == record_json(record):
                return
            for k, (recorded, recomputed) in enumerate(zip(checkpoint.weights, record["weights"],
                                                            strict=True)):
                name = f"weights_{k}_{k + 1}"
                found = differences({name: recorded.array.tolist()},
                                    {name: Matrix(recomputed).array.tolist()}, tolerance)
                if found is not None:
                    raise Mismatch(
                        f"{path}: replay diverges at the checkpoint before pass "
                        f"{checkpoint.epoch}: " + found.describe("recorded", "recomputed")
                        + "; the checkpoint does not hold the run's weights: the trace was "
                        "edited or damaged; re-record it")

        try:
            train_at_detail(network, config, header.detail, check, progress,
                            checkpoint=check_checkpoint, checkpoint_every=header.checkpoint_every)
        except _RecordedPartChecked:
            raise Mismatch(
                f"{path}: incomplete trace ({trace.incomplete}): its {count} recorded events "
                f"match ({tolerance.describe()}), but the run was not recorded past them, so "
                "the rest is not checked") from None
        extra = trace.parse(trace.next_raw())
        if not isinstance(extra, End):
            raise Mismatch(
                f"{path}: the replay ends after {count} events; the trace goes on with "
                f"{summary(extra)}"
            )
        if trace.index_problem is not None:
            raise Mismatch(f"{path}: its {count} events match ({tolerance.describe()}), but its "
                           f"end line's index does not match its checkpoints "
                           f"({trace.index_problem}): the trace was edited; re-record it")
        if extra.index is not None and extra.nonfinite != nonfinite:
            raise Mismatch(f"{path}: its {count} events match ({tolerance.describe()}), but its "
                           f"end line says the first event that is not finite is "
                           f"{extra.nonfinite}; it is {nonfinite}: the trace was edited; "
                           "re-record it")
        if not extra.complete:
            raise Mismatch(
                f"{path}: its {count} events match ({tolerance.describe()}), the whole run, "
                f"but its end line says the recording was incomplete ({trace.incomplete}): "
                "the trace was edited; re-record it")
    return ReplayResult(count, tolerance, header_checked, [n.text for n in notes])
