"""The bench's Quix Streams peer: its venv's requirements, the measurement's pure parts, the job's
own steps (run here without Quix Streams, which only the peer's venv has) and the report rows."""

import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import ConsumerGroupState, TopicPartition
from confluent_kafka.admin import ConsumerGroupDescription, MemberAssignment, MemberDescription

from bench import peer, quix_peer
from bench.__main__ import STEPS, parse_args
from bench.docs import render
from bench.report import markdown

# -- the peer's venv and whether it runs ----------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "environ", "expected"),
    [
        (False, {}, True),
        (True, {}, False),
        (False, {"BENCH_PEER": "0"}, False),
        (False, {"BENCH_PEER": "off"}, False),
        (False, {"BENCH_PEER": "1"}, True),
    ],
)
def test_peer_runs_unless_the_flag_or_bench_peer_turns_it_off(
    flag: bool, environ: dict[str, str], expected: bool
):
    assert peer.enabled(flag, environ) is expected


def test_the_peer_step_runs_by_default_right_after_drain(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("BENCH_PEER", raising=False)
    steps = list(parse_args([]).steps or STEPS)
    assert steps.index("peer") == steps.index("drain") + 1


def test_no_peer_and_bench_peer_0_leave_the_peer_step_out(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("BENCH_PEER", raising=False)
    assert "peer" not in parse_args(["--no-peer"]).steps
    assert parse_args(["--no-peer", "--steps", "drain", "peer"]).steps == ["drain"]
    monkeypatch.setenv("BENCH_PEER", "0")
    assert "peer" not in parse_args([]).steps


def test_pinned_reads_a_constraints_line_whatever_its_case():
    constraints = "# pins\nFastText == 0.9.3 ; python_version >= '3.8'\nnumpy==2.4.6\n"
    assert peer.pinned(constraints, "fasttext") == "fasttext==0.9.3"
    assert peer.pinned(constraints, "quixstreams") is None


def test_requirements_pin_quix_take_our_fasttext_and_keep_numpy_below_2():
    wanted = peer.requirements("fasttext==0.9.9\nnumpy==2.4.6\n")
    assert wanted == [peer.QUIXSTREAMS, "fasttext==0.9.9", peer.NUMPY]
    assert peer.QUIXSTREAMS.startswith("quixstreams==") and peer.NUMPY.startswith("numpy==1.")
    assert peer.requirements("")[1] == peer.FASTTEXT_DEFAULT


def test_venv_dir_defaults_under_dot_bench_and_follows_bench_peer_venv(tmp_path: Path):
    assert peer.venv_dir({}).parts[-2:] == (".bench", "quix-venv")
    assert peer.venv_dir({"BENCH_PEER_VENV": str(tmp_path)}) == tmp_path


def test_a_venv_whose_requirements_cannot_install_is_unavailable(tmp_path: Path):
    missing = str(tmp_path / "no-such-package-1.0-py3-none-any.whl")
    with pytest.raises(peer.PeerUnavailable, match="pip install"):
        peer.ensure_venv(tmp_path / "venv", [missing], timeout=300)
    assert not (tmp_path / "venv" / peer.MARKER).exists()  # so the next run tries again


# -- measurement ----------------------------------------------------------------------------------


def _group(state: ConsumerGroupState, *assignments: list[tuple[str, int]]) -> Any:
    members = [
        MemberDescription(
            f"m{i}", f"c{i}", "host", MemberAssignment([TopicPartition(t, p) for t, p in tps])
        )
        for i, tps in enumerate(assignments)
    ]
    return ConsumerGroupDescription("g", False, members, "range", state, None)


def test_assigned_counts_the_input_partitions_members_hold_in_a_stable_group():
    stable = _group(
        ConsumerGroupState.STABLE,
        [("in", 0), ("in", 1), ("repartition__g--in--fp", 0)],
        [("in", 2)],
    )
    assert peer.assigned(stable, "in") == 3


def test_assigned_is_zero_while_the_group_rebalances():
    rebalancing = _group(ConsumerGroupState.PREPARING_REBALANCING, [("in", 0), ("in", 1)])
    assert peer.assigned(rebalancing, "in") == 0


def test_internal_topics_are_only_the_groups_repartition_and_changelog_topics():
    names = [
        "repartition__g--in--fingerprint",
        "changelog__g--repartition.in.fingerprint--default",
        "changelog__g2--repartition.in.fingerprint--default",
        "bench-g.tagged",
        "in",
    ]
    assert peer.internal_topics(names, "g") == [
        "changelog__g--repartition.in.fingerprint--default",
        "repartition__g--in--fingerprint",
    ]


def test_after_first_output_sets_the_start_up_apart_from_the_rate():
    samples = [(10.0, 0), (11.0, 0), (11.5, 100), (13.5, 1100)]
    out = peer.after_first_output(samples, 1100)
    assert out["first_output_seconds"] == pytest.approx(1.5)
    assert out["eps_after_first_output"] == pytest.approx(500.0)


def test_after_first_output_is_unknown_when_nothing_came_out():
    assert peer.after_first_output([(1.0, 5), (2.0, 5)], 10)["first_output_seconds"] is None


def _run(eps: float) -> dict[str, Any]:
    return {"eps": eps, "eps_incl_commit": eps / 2}


def test_summarise_takes_the_median_round_and_divides_ours_by_it():
    env = peer.PeerEnv(Path("python"), {"quixstreams": "3.28.1"})
    section = peer.summarise([_run(10_000.0), _run(12_000.0), _run(50_000.0)], 42_000.0, env)
    assert section["peer_eps"] == 12_000.0
    assert section["ours_over_quix"] == 3.5
    assert section["versions"] == {"quixstreams": "3.28.1"}
    assert section["timing"].startswith("Timing window:")
    assert "group_by" in section["job"]  # read from quix_peer's docstring without importing it


def test_summarise_without_a_drain_step_has_no_ratio():
    env = peer.PeerEnv(Path("python"), {})
    assert peer.summarise([_run(10_000.0)], None, env)["ours_over_quix"] is None


# -- the job's own steps --------------------------------------------------------------------------


class DictState:
    """Quix's per-key State as the dedup step uses it, for one key."""

    def __init__(self) -> None:
        self.values: dict[Any, Any] = {}

    def get(self, key: Any, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: Any, value: Any) -> None:
        self.values[key] = value


def _event(**overrides: Any) -> bytes:
    event = {
        "id": "e1",
        "title": "Fine-tuning BERT!",
        "description": "See https://example.com/x for the code.",
        "created_on": "2020-02-20T10:00:00",
        **overrides,
    }
    return orjson.dumps(event)


def test_normalise_ignores_case_punctuation_spacing_and_urls():
    assert quix_peer.normalise("  Fine-Tuning   BERT! www.x.org/a ") == "fine tuning bert"
    assert quix_peer.normalise("Ünïcode café") == "ünïcode café"


def test_the_fingerprint_is_equal_for_texts_that_normalise_alike_and_includes_the_url():
    a = quix_peer.parse(_event(title="Fine-tuning BERT!"))
    b = quix_peer.parse(_event(id="e2", title="fine tuning   bert"))
    c = quix_peer.parse(_event(url="https://example.org/post"))
    assert a["fingerprint"] == b["fingerprint"] != c["fingerprint"]


def test_the_model_line_repeats_the_title_and_drops_function_words():
    assert quix_peer.model_line("the bert model", "a study of it") == "bert model bert model study"


def test_parse_keeps_the_event_and_its_normalised_fields():
    record = quix_peer.parse(_event())
    assert record["event"]["id"] == "e1" and record["event"]["title"] == "Fine-tuning BERT!"
    assert record["title_n"] == "fine tuning bert"
    assert record["description_n"] == "see for the code"
    assert not quix_peer.is_error(record)


def test_parse_sends_invalid_json_and_invalid_events_to_the_dead_letter_topic():
    bad_json = quix_peer.parse(b"{not json")
    bad_event = quix_peer.parse(_event(title=""))
    assert quix_peer.is_error(bad_json) and bad_json["error"]["code"] == "invalid_json"
    assert quix_peer.is_error(bad_event) and bad_event["error"]["code"] == "schema_validation"
    assert bad_json["raw_value_text"] == "{not json"


def test_dedup_passes_the_first_id_and_its_redelivery_and_marks_another_id():
    state = DictState()
    first = quix_peer.dedup(quix_peer.parse(_event(id="e1")), state)
    again = quix_peer.dedup(quix_peer.parse(_event(id="e1")), state)
    other = quix_peer.dedup(quix_peer.parse(_event(id="e2")), state)
    assert not quix_peer.is_duplicate(first) and not quix_peer.is_duplicate(again)
    assert quix_peer.is_duplicate(other) and other["duplicate_of"] == "e1"
    assert quix_peer.duplicate_output(other)["id"] == "e2"


def test_records_that_are_not_events_share_one_key_and_pass_dedup_untouched():
    error, event, state = quix_peer.parse(b"[]"), quix_peer.parse(_event()), DictState()
    assert quix_peer.group_key(error) == ""
    assert quix_peer.group_key(event) == event["fingerprint"]
    assert quix_peer.dedup(error, state) == error and state.values == {}


def test_only_new_events_reach_the_model_and_each_output_finds_its_topic():
    classified: list[str] = []

    def classify(record: dict[str, Any]) -> dict[str, Any]:
        classified.append(record["event"]["id"])
        return {**record["event"], "route": "review"}

    finish, state = quix_peer.finisher(classify), DictState()
    outputs = [
        finish(quix_peer.dedup(quix_peer.parse(value), state))
        for value in (_event(id="e1"), _event(id="e2"), b"{not json")
    ]
    assert classified == ["e1"]
    assert [quix_peer.destination(o) for o in outputs] == ["review", "duplicate", "dead_letter"]
    assert quix_peer.destination({"route": "tagged"}) == "tagged"


@pytest.mark.parametrize(("confidence", "route"), [(0.6, "tagged"), (0.59, "review")])
def test_classified_output_routes_by_the_artifacts_threshold(confidence: float, route: str):
    record = quix_peer.parse(_event())
    labels = ("__label__mlops", "__label__other")
    out = quix_peer.classified_output(record, labels, [confidence, 0.1], 0.6, "v1")
    assert out["route"] == route and out["tag"] == "mlops" and out["model_version"] == "v1"
    assert out["probabilities"] == {"mlops": confidence, "other": 0.1}


def test_classified_output_caps_fasttexts_floor_lifted_probabilities_at_one():
    record = quix_peer.parse(_event())
    out = quix_peer.classified_output(record, ("__label__mlops",), [1.00001], 0.6, "v1")
    assert out["confidence"] == 1.0


def test_the_job_script_imports_none_of_our_packages():
    source = Path(quix_peer.__file__).read_text()
    for package in ("schemas", "inference", "consumer", "training", "bench", "loadgen"):
        assert f"from {package}" not in source and f"import {package}" not in source
    assert "quixstreams" not in sys.modules  # imported only when the job is built


# -- report ---------------------------------------------------------------------------------------

PEER_REPORT: dict[str, Any] = {
    "drain": {"service_eps": 42_000.0, "passthrough_eps": 140_000.0, "ratio": 0.3},
    "peer": {
        "peer_eps": 12_000.0,
        "ours_over_quix": 3.5,
        "versions": {"quixstreams": "3.28.1", "confluent-kafka": "2.12.2"},
        "job": "The job: group_by the fingerprint.",
        "timing": "Timing window: from the group's assignment.",
    },
}


def test_the_summary_shows_quix_eps_and_ours_over_quix():
    text = markdown(PEER_REPORT)
    assert "peer: Quix Streams (1 process) |" in text and "12,000" in text
    assert "drain: ours / Quix Streams |" in text and "3.50" in text


def test_the_summary_says_why_the_peer_was_skipped():
    text = markdown({"peer": {"skipped": "no registry"}})
    assert "Peer (Quix Streams) skipped: no registry" in text
    assert "peer: Quix Streams" not in text


def test_the_docs_say_what_the_peer_is_and_how_it_was_timed():
    text = render(PEER_REPORT)
    assert "Quix Streams 3.28.1" in text and "confluent-kafka 2.12.2" in text
    assert "group_by the fingerprint" in text and "from the group's assignment" in text


def test_the_docs_have_no_peer_paragraph_without_a_peer():
    assert "Quix" not in render({"drain": PEER_REPORT["drain"]})
