"""`consumer.splice` reads only the compact JSON orjson writes, yet no input makes it read out of
bounds or answer wrongly: whatever is not a batch of that shape is refused with a ValueError."""

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.splice import classified_outputs, classified_outputs_of_rows

ANSWER = ("mlops", 0.5, {"mlops": 0.5})
TAIL = b',"threshold":0.5}'


def splice(events_json: bytes, answers_json: bytes, n: int = 1) -> list:
    return classified_outputs(
        events_json, answers_json, [ANSWER] * n, ["1"] * n, 0.5, TAIL, ("t", "r"), tuple
    )


def test_a_record_is_the_event_then_the_answer_then_the_route_then_the_tail():
    [(topic, key, value, route, tag)] = splice(b'[{"id":1}]', orjson.dumps([ANSWER]))
    assert value == (
        b'{"id":1,"tag":"mlops","confidence":0.5,"probabilities":{"mlops":0.5},'
        b'"route":"tagged","threshold":0.5}'
    )
    assert (topic, key, route, tag) == ("t", b"1", "tagged", "mlops")


def test_a_confidence_under_the_threshold_is_routed_to_review():
    low = ("other", 0.25, {"other": 0.25})
    [out] = classified_outputs(
        b'[{"id":1}]', orjson.dumps([low]), [low], ["1"], 0.5, TAIL, ("t", "r"), tuple
    )
    assert (out[0], out[3]) == ("r", "review")
    assert b'"route":"review"' in out[2]


@pytest.mark.parametrize(
    ("events_json", "n"),
    [(b'[{"id":1},{"id":2}]', 1), (b'[{"id":1}]', 2), (b"[]", 1), (b'[{"id":"1}]', 1)],
    ids=["more events", "fewer events", "no events", "unterminated string"],
)
def test_events_that_do_not_match_the_answers_are_refused(events_json: bytes, n: int):
    with pytest.raises(ValueError):
        splice(events_json, orjson.dumps([ANSWER] * n), n)


def test_ids_that_do_not_match_the_answers_are_refused():
    with pytest.raises(ValueError, match="ids"):
        classified_outputs(
            b'[{"id":1}]', orjson.dumps([ANSWER]), [ANSWER], [], 0.5, TAIL, ("t", "r"), tuple
        )


@given(st.binary(max_size=80), st.binary(max_size=80), st.integers(0, 3))
def test_arbitrary_bytes_are_spliced_or_refused_never_read_past(
    events_json: bytes, answers_json: bytes, n: int
):
    try:
        outputs = splice(events_json, answers_json, n)
    except ValueError:
        return
    assert len(outputs) == n
    for _, _, value, _, _ in outputs:
        assert value.endswith(TAIL)


@given(st.lists(st.sampled_from([b"[", b"]", b"{", b"}", b",", b'"', b"\\", b"1", b"x"])))
def test_json_punctuation_in_any_order_is_spliced_or_refused(pieces: list[bytes]):
    document = b"".join(pieces)
    for events_json, answers_json in ((document, orjson.dumps([ANSWER])), (b'[{"a":1}]', document)):
        try:
            [(_, _, value, _, _)] = splice(events_json, answers_json)
        except ValueError:
            continue
        assert value.startswith(events_json[1:-2]) and value.endswith(TAIL)


# ------------------------------------------------------------------- answers read from a matrix

LABELS = ("mlops", "other")
ROWS = np.array([[0.75, 0.25]], np.float32)


def splice_rows(events_json: bytes, rows_json: bytes, rows: np.ndarray = ROWS) -> list:
    labels_json = [orjson.dumps(label) for label in LABELS]
    ids = ["1"] * len(rows)
    return classified_outputs_of_rows(
        events_json, rows_json, rows, LABELS, labels_json, ids, 0.5, TAIL, ("t", "r"), tuple
    )


def test_a_record_from_a_row_is_the_event_then_its_top_label_and_every_label():
    [(topic, key, value, route, tag)] = splice_rows(b'[{"id":1}]', b"[[0.75,0.25]]")
    assert value == (
        b'{"id":1,"tag":"mlops","confidence":0.75,"probabilities":{"mlops":0.75,"other":0.25},'
        b'"route":"tagged","threshold":0.5}'
    )
    assert (topic, key, route, tag) == ("t", b"1", "tagged", "mlops")


@pytest.mark.parametrize(
    "rows_json",
    [b"[[0.75]]", b"[[0.75,0.25,0.5]]", b"[[0.75,[0.25]]]", b"[[0.75,0.25],[0.5,0.5]]", b"[]"],
    ids=["short row", "long row", "nested", "more rows", "no rows"],
)
def test_rows_that_do_not_match_the_matrix_are_refused(rows_json: bytes):
    with pytest.raises(ValueError):
        splice_rows(b'[{"id":1}]', rows_json)


@given(st.binary(max_size=60), st.binary(max_size=60))
def test_arbitrary_bytes_are_spliced_from_rows_or_refused_never_read_past(
    events_json: bytes, rows_json: bytes
):
    try:
        [(_, _, value, _, _)] = splice_rows(events_json, rows_json)
    except ValueError:
        return
    assert value.endswith(TAIL)
