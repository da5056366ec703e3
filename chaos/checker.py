"""The verdict on a run, from records read back (pure: plain values in, a report out).

An input record is accounted for by an output carrying its event id (the service's outputs carry
the event, not the input offset), so accounting is per id: an id published k times needs k
outputs. Each check is named, so a failing one says exactly which promise broke:

* `acknowledged_in_input`: every record the broker acknowledged is in the input at its offset;
* `none_missing`: every input record has an output;
* `exactly_once` (exactly-once only): no input record has more than one output; at-least-once
  reports the surplus as `replays` instead (a crash before the commit republishes, by design);
* `content_once`: no content reaches tagged/review under two different ids;
* `content_classified`: every distinct content acknowledged has a tagged/review output (exactly
  one under exactly-once): per-id counting alone lets a lost tag through when replays of a
  re-send make up the count;
* `valid_records`: every output validates against its topic's schema (`schemas.events`), so a
  tag outside the approved `Tag` literal fails here;
* `route_matches_confidence`: a tagged/review record is on the topic its own `route` names, and
  that is `tagged` exactly when `confidence >= threshold`;
* `duplicate_of_classified`: a duplicate's `duplicate_of` names an id with the same content that
  has a tagged/review output;
* `resends_to_duplicates`: an upstream re-send (the same id and content at a new offset) goes to
  the duplicates topic; under at-least-once a replay of the first one may land beside it. The
  first publication of the id is routed only if its content was not seen first under another id
  (a content duplicate, or an original whose duplicate on another partition was processed first);
  otherwise it is a duplicate too;
* `committed_at_end`: the group's committed offsets are the input's end offsets;
* `no_dead_letters`: nothing on the dead-letter topic;
* `no_unknown_outputs`: every output's id was published;
* `exits_explained`: every instance exit nobody asked for was the service's fatal exit 1 inside
  a broker outage (from the kill until a grace after the restart); the run passes these in.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Guarantee = Literal["at-least-once", "exactly-once"]
GUARANTEES: tuple[Guarantee, ...] = ("at-least-once", "exactly-once")
Route = Literal["tagged", "review", "duplicate", "dead_letter"]
ROUTED: frozenset[str] = frozenset({"tagged", "review"})
EXAMPLES = 10  # violations listed per check; the count is always complete

CHECKS: tuple[str, ...] = (
    "acknowledged_in_input",
    "none_missing",
    "exactly_once",
    "content_once",
    "content_classified",
    "valid_records",
    "route_matches_confidence",
    "duplicate_of_classified",
    "resends_to_duplicates",
    "committed_at_end",
    "no_dead_letters",
    "no_unknown_outputs",
    "exits_explained",
)
# The service's documented fatal exit (README, docs/operations.md): a delivery or transaction
# failure it cannot ride out, e.g. while the broker is down; the supervisor restarts it.
FATAL_EXIT = 1


@dataclass(frozen=True, slots=True)
class Sent:
    """A record the broker acknowledged (from the producer's delivery report).

    :param kind: `original`, `duplicate` (same content, new id) or `resend` (same id and
        content again).
    :param content: the content's fingerprint, as the service computes it.
    """

    id: str
    partition: int
    offset: int
    content: str
    kind: str


@dataclass(frozen=True, slots=True)
class InputRecord:
    """A record read back from the input topic; `id` None when its value has none, `content`
    its fingerprint (None when it has no title)."""

    partition: int
    offset: int
    id: str | None
    content: str | None = None


@dataclass(frozen=True, slots=True)
class OutputRecord:
    """A record read back from an output topic; `id` is the event's (None for a dead letter
    of a value without one).

    :param invalid: why the value fails its topic's schema (None: it validates).
    :param record_route: a tagged/review record's own `route` field.
    :param confidence: a tagged/review record's confidence, compared with its `threshold`.
    :param duplicate_of: a duplicate's `duplicate_of`, as a string.
    """

    route: Route
    partition: int
    offset: int
    id: str | None
    invalid: str | None = None
    record_route: str | None = None
    confidence: float | None = None
    threshold: float | None = None
    duplicate_of: str | None = None


@dataclass(frozen=True, slots=True)
class Exit:
    """An instance exit nobody asked for, as the supervisor saw it.

    :param instance: the slot's name.
    :param at: seconds after the input started.
    :param code: the exit code (negative: killed by that signal).
    """

    instance: str
    at: float
    code: int | None


@dataclass
class Report:
    """What the checks found: per check, how many violations and a few examples."""

    guarantee: Guarantee
    counts: dict[str, int] = field(default_factory=dict)
    replays: int = 0
    violations: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHECKS, 0))
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def flag(self, check: str, example: str) -> None:
        self.violations[check] += 1
        if len(self.examples[check]) < EXAMPLES:
            self.examples[check].append(example)

    @property
    def ok(self) -> bool:
        return not any(self.violations.values())

    @property
    def failed(self) -> list[str]:
        return [name for name in CHECKS if self.violations[name]]

    def as_dict(self) -> dict[str, object]:
        return {
            "guarantee": self.guarantee,
            "ok": self.ok,
            "failed_checks": self.failed,
            "counts": self.counts,
            "replays": self.replays,
            "violations": self.violations,
            "examples": {k: v for k, v in self.examples.items() if v},
        }


def check(
    guarantee: Guarantee,
    sent: Sequence[Sent],
    inputs: Iterable[InputRecord],
    outputs: Iterable[OutputRecord],
    committed: Mapping[int, int],
    end: Mapping[int, int],
    exits: Sequence[Exit] = (),
    outages: Sequence[tuple[float, float]] = (),
) -> Report:
    """Every check over one run's records.

    :param guarantee: which promise the outputs are held to.
    :param sent: what the broker acknowledged to the producer.
    :param inputs: the input topic read back (`read_committed`), every partition from the start.
    :param outputs: every output topic read back the same way.
    :param committed: the group's committed offset per input partition (absent: none).
    :param end: the input's end offset per partition.
    :param exits: the instances' exits nobody asked for.
    :param outages: (from, until) seconds in which a fatal exit is expected: each broker outage
        with its grace (`broker_outages`).
    """
    if guarantee not in GUARANTEES:
        raise ValueError(f"guarantee must be one of {GUARANTEES}, not {guarantee!r}")
    report = Report(guarantee)
    inputs, outputs = list(inputs), list(outputs)
    at = {(r.partition, r.offset): r.id for r in inputs}
    content = {s.id: s.content for s in sent}
    content.update({r.id: r.content for r in inputs if r.id is not None and r.content})

    for s in sent:
        found = at.get((s.partition, s.offset), "<absent>")
        if found != s.id:
            report.flag(
                "acknowledged_in_input",
                f"id {s.id} acknowledged at {s.partition}:{s.offset}, input has {found}",
            )

    published = Counter(r.id for r in inputs if r.id is not None)
    routed: dict[str, Counter[str]] = defaultdict(Counter)  # id -> route -> outputs
    for o in outputs:
        if o.id is not None:
            routed[o.id][o.route] += 1
        if o.route == "dead_letter":
            report.flag("no_dead_letters", f"dead letter {o.partition}:{o.offset} (id {o.id})")
        elif o.id is None or o.id not in published:
            report.flag("no_unknown_outputs", f"{o.route} {o.partition}:{o.offset} id {o.id}")
        if o.invalid is not None:
            report.flag("valid_records", f"{o.route} {o.partition}:{o.offset}: {o.invalid}")
        elif o.route in ROUTED:
            _check_route(report, o)

    surplus = 0
    for event_id, n_in in sorted(published.items()):
        n_out = sum(routed[event_id].values())
        if n_out < n_in:
            report.flag("none_missing", f"id {event_id}: published {n_in}x, output {n_out}x")
        elif n_out > n_in:
            surplus += n_out - n_in
            if guarantee == "exactly-once":
                report.flag("exactly_once", f"id {event_id}: published {n_in}x, output {n_out}x")
        if n_in > 1:
            _check_resend(report, guarantee, event_id, n_in, routed[event_id])
    report.replays = surplus

    ids_by_content: dict[str, set[str]] = defaultdict(set)
    for event_id, routes in routed.items():
        if any(routes[r] for r in ROUTED):
            ids_by_content[content.get(event_id, f"<unknown content of {event_id}>")].add(event_id)
    for fingerprint, ids in sorted(ids_by_content.items()):
        if len(ids) > 1:
            report.flag("content_once", f"content {fingerprint} tagged/reviewed as {sorted(ids)}")

    classified_by_content: Counter[str] = Counter()
    for o in outputs:
        if o.route in ROUTED and o.id is not None and o.id in content:
            classified_by_content[content[o.id]] += 1
    for fingerprint in sorted({s.content for s in sent}):
        n = classified_by_content[fingerprint]
        if n == 0 or (guarantee == "exactly-once" and n > 1):
            report.flag("content_classified", f"content {fingerprint}: {n} tagged/review outputs")

    for o in outputs:
        if o.route != "duplicate" or o.invalid is not None:
            continue
        original = o.duplicate_of
        mine = content.get(o.id or "", f"<unknown content of {o.id}>")
        if original is None or content.get(original) != mine:
            why = "another content" if original in content else "an unknown id"
            report.flag(
                "duplicate_of_classified",
                f"duplicate {o.partition}:{o.offset} id {o.id}: duplicate_of {original} has {why}",
            )
        elif not any(routed[original][r] for r in ROUTED):
            report.flag(
                "duplicate_of_classified",
                f"duplicate {o.partition}:{o.offset} id {o.id}: {original} never tagged/reviewed",
            )

    for e in exits:
        if e.code != FATAL_EXIT or not any(start <= e.at <= until for start, until in outages):
            report.flag("exits_explained", f"{e.instance} exited {e.code} at t={e.at:.1f}s")

    for partition, end_offset in sorted(end.items()):
        done = committed.get(partition)
        if done != end_offset and not (done is None and end_offset == 0):  # empty: none due
            report.flag(
                "committed_at_end",
                f"partition {partition}: committed {done}, end {end_offset}",
            )

    kinds = Counter(s.kind for s in sent)
    by_route = Counter(o.route for o in outputs)
    report.counts = {
        "acknowledged": len(sent),
        "acknowledged_originals": kinds["original"],
        "acknowledged_duplicates": kinds["duplicate"],
        "acknowledged_resends": kinds["resend"],
        "input_records": len(inputs),
        "distinct_ids": len(published),
        "distinct_contents": len(set(content.values())),
        "outputs": len(outputs),
        **{f"outputs_{route}": by_route[route] for route in ("tagged", "review", "duplicate")},
        "outputs_dead_letter": by_route["dead_letter"],
        "unplanned_exits": len(exits),
    }
    return report


def _check_route(report: Report, o: OutputRecord) -> None:
    """A classified record's topic, its own `route` field and its confidence agree."""
    assert o.confidence is not None and o.threshold is not None
    due = "tagged" if o.confidence >= o.threshold else "review"
    if o.record_route != o.route or due != o.route:
        report.flag(
            "route_matches_confidence",
            f"{o.route} {o.partition}:{o.offset} id {o.id}: route {o.record_route}, "
            f"confidence {o.confidence} vs threshold {o.threshold}",
        )


def broker_outages(
    events: Iterable[Mapping[str, object]], grace: float
) -> list[tuple[float, float]]:
    """When an instance may exit 1: from each broker kill until `grace` seconds after its
    restart (or for ever, when the restart never happened), as (from, until) seconds.

    :param events: the run's fault log (`t`, `kind`, `action`), in time order.
    :param grace: how long after the restart a delivery or a transaction started during the
        outage may still fail (a few session timeouts: the group rejoins, retries run out).
    """
    outages: list[tuple[float, float]] = []
    began: float | None = None
    for e in events:
        if e.get("kind") != "kill_broker":
            continue
        t = float(str(e["t"]))
        if e.get("action") == "SIGKILL":
            began = t
        elif e.get("action") == "restarted" and began is not None:
            outages.append((began, t + grace))
            began = None
    if began is not None:
        outages.append((began, float("inf")))
    return outages


def _check_resend(
    report: Report, guarantee: Guarantee, event_id: str, n_in: int, routes: Counter[str]
) -> None:
    """An id published `n_in` times: every re-send is a duplicate; the first publication is
    routed, or a duplicate when its content reached the service first under another id (partitions
    are consumed independently, so that id may have been published later). Under at-least-once,
    replays may add outputs to either; under exactly-once the counts are exact: at most one
    routed, the rest duplicates."""
    duplicates = routes["duplicate"]
    classified = sum(routes[r] for r in ROUTED)
    if guarantee == "exactly-once":
        wrong = classified > 1 or duplicates != n_in - classified
    else:
        wrong = duplicates < n_in - 1
    if wrong:
        report.flag(
            "resends_to_duplicates",
            f"id {event_id} published {n_in}x: {duplicates} duplicate, {classified} tagged/review",
        )
