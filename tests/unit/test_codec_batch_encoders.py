"""The batch encoders (`ClassifiedEncoder`, `DuplicateEncoder`) and `checked_predictions` against
the record validated whole through its model: the same bytes for every valid input, records that
validate against their schema, and no answer outside the schema (a tag that is not approved above
all) ever encoded."""

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pydantic import ValidationError

from consumer.codec import (
    ClassifiedEncoder,
    DecodeError,
    DuplicateEncoder,
    answers_fit_the_schema,
    checked_predictions,
    decode,
    decode_all,
)
from inference.predictor import Answers
from schemas.events import ClassifiedEvent, DuplicateEvent, RawContentEvent
from schemas.tags import APPROVED_TAGS
from tests.support.records import event, validated_record
from tests.support.strategies import datetimes, event_ids, probabilities, raw_events, tags

NOW = datetime(2026, 1, 1, tzinfo=UTC)
routes = st.sampled_from(["tagged", "review"])
answers = st.builds(
    lambda tag, confidence, probs: (tag, confidence, probs),
    tags,
    probabilities,
    st.dictionaries(tags, probabilities),
)
# What a model may answer besides: a tag outside the approved set, numbers outside [0, 1].
out_of_range = st.floats(allow_nan=True) | st.floats(min_value=1.0, exclude_min=True)
bad_answers = st.one_of(
    st.tuples(st.text().filter(lambda t: t not in APPROVED_TAGS), probabilities, st.just({})),
    st.tuples(tags, out_of_range.filter(lambda x: not 0.0 <= x <= 1.0), st.just({})),
    st.tuples(tags, probabilities, st.dictionaries(st.text(), probabilities, min_size=1)).filter(
        lambda a: not set(a[2]) <= set(APPROVED_TAGS)
    ),
    st.tuples(tags, probabilities, st.dictionaries(tags, st.floats(-2.0, -0.001), min_size=1)),
)


def _reference(
    event: RawContentEvent,
    answer: tuple[str, float, dict[str, float]],
    route: str,
    threshold: float,
    version: str,
    consumed_at: datetime,
    classified_at: datetime,
) -> bytes:
    """The classified record validated whole: what the encoders' bytes must equal."""
    tag, confidence, probabilities = answer
    return validated_record(
        ClassifiedEvent,
        event,
        tag=tag,
        confidence=confidence,
        probabilities=probabilities,
        route=route,
        threshold=threshold,
        model_version=version,
        consumed_at=consumed_at,
        classified_at=classified_at,
    )


@given(
    raw_events,
    answers,
    routes,
    probabilities,
    st.text(max_size=16),
    datetimes,
    datetimes,
)
def test_a_classified_record_is_the_validated_paths_bytes_and_validates(
    event: RawContentEvent,
    answer: tuple[str, float, dict[str, float]],
    route: str,
    threshold: float,
    version: str,
    consumed_at: datetime,
    classified_at: datetime,
):
    [checked] = checked_predictions([answer])
    assert not isinstance(checked, Exception)
    tag, confidence, probs = checked
    fast = ClassifiedEncoder(
        threshold=threshold,
        model_version=version,
        consumed_at=consumed_at,
        classified_at=classified_at,
    )(dict(event), tag, confidence, probs, route)
    slow = _reference(
        event, (tag, confidence, probs), route, threshold, version, consumed_at, classified_at
    )
    assert fast == slow
    assert ClassifiedEvent.model_validate_json(fast).tag == tag


def matrices(elements: st.SearchStrategy[float]) -> st.SearchStrategy[np.ndarray]:
    return arrays(np.float32, st.tuples(st.integers(0, 6), st.just(4)), elements=elements)


# Probabilities as a model writes them, ties and both ends included.
within = st.sampled_from([0.0, 1e-5, 0.5, 1.0]) | st.floats(0, 1, width=32)
anything = within | st.floats(width=32) | st.sampled_from([math.nan, -0.0, 1.0000001, -1e-7])
label_sets = st.permutations(APPROVED_TAGS) | st.lists(
    st.sampled_from([*APPROVED_TAGS, "cooking", ""]), min_size=4, max_size=4, unique=True
)


@given(matrices(anything), label_sets)
def test_a_matrix_fits_the_schema_exactly_when_every_answer_built_from_it_passes_the_check(
    rows, labels
):
    kept = Answers(rows, tuple(labels))
    passes = not any(isinstance(a, Exception) for a in checked_predictions(list(kept)))
    assert answers_fit_the_schema(kept) == passes


def test_a_matrix_with_a_label_twice_is_not_read_whole():
    rows = np.full((1, 4), 0.25, np.float32)
    assert not answers_fit_the_schema(Answers(rows, ("mlops", "mlops", "other", "computer-vision")))


@given(
    st.lists(raw_events, max_size=6).flatmap(
        lambda events: st.tuples(
            st.just(events),
            arrays(np.float32, (len(events), 4), elements=within),
            st.permutations(APPROVED_TAGS),
        )
    ),
    probabilities,
    st.text(max_size=16),
    datetimes,
)
def test_a_batchs_records_are_the_validated_paths_bytes_routed_by_the_threshold(
    batch, threshold, version, at
):
    events, rows, labels = batch
    kept = Answers(rows, tuple(labels))
    encoder = ClassifiedEncoder(
        threshold=threshold, model_version=version, consumed_at=NOW, classified_at=at
    )
    ids = [str(event.id) for event in events]
    decoded = [dict(event) for event in events]
    outputs = encoder.outputs_of_answers(decoded, ids, kept, ("to-tagged", "to-review"), tuple)
    expected = []
    for raw, (tag, confidence, probs) in zip(events, kept, strict=True):
        route = "tagged" if confidence >= threshold else "review"
        value = _reference(raw, (tag, confidence, probs), route, threshold, version, NOW, at)
        expected.append((f"to-{route}", str(raw.id).encode(), value, route, tag))
    assert outputs == expected


def test_a_batch_with_text_that_looks_like_json_structure_is_spliced_intact():
    texts = ['"}]},{"', "\\", '\\"', "ends in a backslash \\", "[{,:}]", "\u0000\x1f"]
    events = [
        dict(RawContentEvent(id=f'"{i}\\', title=t, description=t[::-1], created_on=NOW, url=t))
        for i, t in enumerate(texts)
    ]
    kept = Answers(np.tile(np.float32([0.75, 0.25, 0.0, 0.0]), (6, 1)), APPROVED_TAGS)
    encoder = ClassifiedEncoder(
        threshold=0.5, model_version='v"1', consumed_at=NOW, classified_at=NOW
    )
    ids = [str(e["id"]) for e in events]
    outputs = encoder.outputs_of_answers(events, ids, kept, ("t", "r"), tuple)
    for raw, answer, (_, _, value, _, _) in zip(events, kept, outputs, strict=True):
        assert value == encoder(raw, *answer, "tagged")
        assert ClassifiedEvent.model_validate_json(value).title == raw["title"]


@given(raw_events, event_ids, st.text(max_size=40), datetimes)
def test_a_duplicate_record_is_the_validated_paths_bytes_and_validates(
    event: RawContentEvent, first_id: str | int, fingerprint: str, consumed_at: datetime
):
    fast = DuplicateEncoder(consumed_at=consumed_at)(dict(event), first_id, fingerprint)
    slow = validated_record(
        DuplicateEvent,
        event,
        duplicate_of=first_id,
        fingerprint=fingerprint,
        consumed_at=consumed_at,
    )
    assert fast == slow
    assert DuplicateEvent.model_validate_json(fast).duplicate_of == first_id


@given(st.lists(answers, max_size=5))
def test_answers_within_the_schema_pass_the_check_unchanged(batch):
    assert checked_predictions(batch) == batch


@given(st.lists(answers, max_size=4), bad_answers, st.lists(answers, max_size=4))
def test_an_answer_outside_the_schema_is_replaced_by_its_error_and_only_it(before, bad, after):
    checked = checked_predictions([*before, bad, *after])
    assert checked[: len(before)] == before and checked[len(before) + 1 :] == after
    assert isinstance(checked[len(before)], ValidationError)


def test_a_tag_outside_the_approved_set_is_never_encoded():
    [checked] = checked_predictions([("cooking", 0.9, {"cooking": 0.9})])
    assert isinstance(checked, ValidationError)


def test_a_not_a_number_probability_is_rejected():
    [checked] = checked_predictions([("mlops", 0.5, {"mlops": math.nan})])
    assert isinstance(checked, ValidationError)


def test_an_exception_in_place_of_an_answer_stays():
    failure = RuntimeError("model failed on this event")
    assert checked_predictions([failure, ("mlops", 0.5, {})]) == [failure, ("mlops", 0.5, {})]


def test_an_integer_confidence_is_written_as_the_validated_path_writes_it():
    [checked] = checked_predictions([("mlops", 1, {"mlops": 1})])
    assert checked == ("mlops", 1.0, {"mlops": 1.0})
    assert isinstance(checked, tuple) and isinstance(checked[1], float)


@pytest.mark.parametrize("threshold", [-0.1, 1.5, math.nan])
def test_a_batch_with_a_threshold_outside_zero_to_one_cannot_be_encoded(threshold):
    with pytest.raises(ValidationError):
        ClassifiedEncoder(
            threshold=threshold, model_version="v1", consumed_at=NOW, classified_at=NOW
        )


def test_an_unknown_route_is_never_encoded():
    event = dict(RawContentEvent(id=1, title="t", description="", created_on=NOW))
    encode = ClassifiedEncoder(
        threshold=0.5, model_version="v1", consumed_at=NOW, classified_at=NOW
    )
    with pytest.raises(ValueError, match="route"):
        encode(event, "mlops", 0.5, {}, "elsewhere")


@pytest.mark.parametrize("first_id", ["", "x" * 129, 2**63])
def test_a_first_id_outside_the_schema_is_never_encoded(first_id):
    event = dict(RawContentEvent(id=1, title="t", description="", created_on=NOW))
    with pytest.raises(ValidationError):
        DuplicateEncoder(consumed_at=NOW)(event, first_id, "f" * 32)


@pytest.mark.parametrize(
    "bad",
    [None, b"x" * 101, b"{", b"\xff", b'{"id": 1}'],
    ids=["null", "oversize", "invalid json", "invalid utf8", "schema violation"],
)
def test_a_batch_with_any_payload_decode_refuses_is_not_decoded_whole(bad: bytes | None) -> None:
    good = event(1, "t")
    with pytest.raises(DecodeError):
        decode(bad, 100)
    assert decode_all([good, bad, good], 100) is None
    assert decode_all([good, good], 100) == [decode(good, 100), decode(good, 100)]
