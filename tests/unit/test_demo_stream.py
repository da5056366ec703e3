"""The stream `make run` replays sends events down every route."""

import orjson
import pytest

from consumer import codec
from inference.text import fingerprint
from loadgen.demo import MALFORMED, UNSEEN, demo_events
from tests.support import synthetic


@pytest.fixture(scope="module")
def stream():
    return demo_events(synthetic.examples(), id_prefix="t", seed=3, duplicate_share=0.25)


def _events(stream):
    return [item for item in stream if isinstance(item, dict)]


def test_every_example_is_sent_once(stream):
    ids = [e["id"] for e in _events(stream)]
    assert sorted(i for i in ids if "-copy-" not in i and "-unseen-" not in i) == sorted(
        f"t-{e.id}" for e in synthetic.examples()
    )
    assert len(ids) == len(set(ids))


def test_content_the_model_never_saw_is_included(stream):
    titles = {e["title"] for e in _events(stream)}
    assert {title for title, _ in UNSEEN} <= titles


def test_each_copy_comes_after_an_original_with_the_same_fingerprint(stream):
    seen = set()
    copies = 0
    for event in _events(stream):
        fp = fingerprint(event["title"], event["description"], event.get("url"))
        if "-copy-" in event["id"]:
            copies += 1
            assert fp in seen
        seen.add(fp)
    assert copies == round(len(synthetic.examples()) * 0.25)


def test_every_event_but_the_malformed_ones_decodes(stream):
    for event in _events(stream):
        codec.decode(orjson.dumps(event), 256 * 1024)
    for raw in MALFORMED:
        with pytest.raises(codec.DecodeError):
            codec.decode(raw, 256 * 1024)
    assert stream[-len(MALFORMED) :] == MALFORMED


def test_the_stream_is_the_same_for_the_same_seed(stream):
    assert demo_events(synthetic.examples(), id_prefix="t", seed=3, duplicate_share=0.25) == stream
