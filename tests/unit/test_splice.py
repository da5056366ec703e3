"""`consumer.splice` reads only the compact JSON orjson writes, yet no input makes it read out of
bounds or answer wrongly: whatever is not a batch of that shape is refused with a ValueError."""

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.splice import classified_outputs

LABELS = ("mlops", "other")
LABELS_JSON = [orjson.dumps(label) for label in LABELS]
TAIL = b',"threshold":0.5}'


def splice(events_json: bytes, rows_json: bytes, rows: np.ndarray | None = None) -> list:
    if rows is None:
        rows = np.array([[0.75, 0.25]], np.float32)
    top = rows.argmax(axis=1).tolist()
    ids = ["1"] * len(rows)
    return classified_outputs(
        events_json, rows_json, rows, top, LABELS, LABELS_JSON, ids, 0.5, TAIL, ("t", "r"), tuple
    )


def test_a_record_is_the_event_then_its_top_label_and_every_label_then_the_route_and_tail():
    [(topic, key, value, route, tag)] = splice(b'[{"id":1}]', b"[[0.75,0.25]]")
    assert value == (
        b'{"id":1,"tag":"mlops","confidence":0.75,"probabilities":{"mlops":0.75,"other":0.25},'
        b'"route":"tagged","threshold":0.5}'
    )
    assert (topic, key, route, tag) == ("t", b"1", "tagged", "mlops")


def test_a_confidence_under_the_threshold_is_routed_to_review():
    low = np.array([[0.25, 0.375]], np.float32)
    [out] = splice(b'[{"id":1}]', b"[[0.25,0.375]]", low)
    assert (out[0], out[3], out[4]) == ("r", "review", "other")
    assert b'"route":"review"' in out[2]


@pytest.mark.parametrize(
    ("events_json", "rows"),
    [(b'[{"id":1},{"id":2}]', 1), (b'[{"id":1}]', 2), (b"[]", 1), (b'[{"id":"1}]', 1)],
    ids=["more events", "fewer events", "no events", "unterminated string"],
)
def test_events_that_do_not_match_the_rows_are_refused(events_json: bytes, rows: int):
    matrix = np.tile(np.float32([0.75, 0.25]), (rows, 1))
    with pytest.raises(ValueError):
        splice(events_json, orjson.dumps(matrix.astype(np.float64).tolist()), matrix)


@pytest.mark.parametrize(
    "rows_json",
    [b"[[0.75]]", b"[[0.75,0.25,0.5]]", b"[[0.75,[0.25]]]", b"[[0.75,0.25],[0.5,0.5]]", b"[]"],
    ids=["short row", "long row", "nested", "more rows", "no rows"],
)
def test_rows_that_do_not_match_the_matrix_are_refused(rows_json: bytes):
    with pytest.raises(ValueError):
        splice(b'[{"id":1}]', rows_json)


def test_ids_or_tags_that_do_not_match_the_rows_are_refused():
    rows = np.array([[0.75, 0.25]], np.float32)
    args = (b'[{"id":1}]', b"[[0.75,0.25]]", rows)
    with pytest.raises(ValueError, match="ids"):
        classified_outputs(*args, [0], LABELS, LABELS_JSON, [], 0.5, TAIL, ("t", "r"), tuple)
    with pytest.raises(ValueError, match="tag column"):
        classified_outputs(*args, [2], LABELS, LABELS_JSON, ["1"], 0.5, TAIL, ("t", "r"), tuple)


@given(st.binary(max_size=60), st.binary(max_size=60))
def test_arbitrary_bytes_are_spliced_or_refused_never_read_past(
    events_json: bytes, rows_json: bytes
):
    try:
        [(_, _, value, _, _)] = splice(events_json, rows_json)
    except ValueError:
        return
    assert value.endswith(TAIL)


@given(st.lists(st.sampled_from([b"[", b"]", b"{", b"}", b",", b'"', b"\\", b"1", b"x"])))
def test_json_punctuation_in_any_order_is_spliced_or_refused(pieces: list[bytes]):
    document = b"".join(pieces)
    for events_json, rows_json in ((document, b"[[0.75,0.25]]"), (b'[{"a":1}]', document)):
        try:
            [(_, _, value, _, _)] = splice(events_json, rows_json)
        except ValueError:
            continue
        assert value.startswith(events_json[1:-2]) and value.endswith(TAIL)
