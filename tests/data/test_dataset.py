"""The labelled data set (DATASET_LOC, else ../shared/data/dataset.csv) is fit to train on, to
calibrate on and to replay through the service. Parsing rules themselves are unit-tested on
hand-written CSV (tests/unit/test_data_validation.py)."""

import random
from collections import Counter

import pytest

from inference.text import (
    fingerprint,
    model_tokens,
    normalise_text,
    normalised_batch_utf8,
    normalised_fields,
    normalised_fields_batch,
)
from schemas.events import RawContentEvent
from schemas.tags import APPROVED_TAGS
from training.data import DataValidationError, load

MIN_ROWS_PER_TAG = 40
"""Enough rows of each tag for the default config's stratified 20% validation split to hold eight
of them, and each of its five out-of-fold calibration folds as many."""


def test_the_data_set_passes_validation(dataset_path: str):
    try:
        load(dataset_path)
    except DataValidationError as exc:
        pytest.fail(f"{dataset_path}:\n" + "\n".join(exc.problems), pytrace=False)


def test_every_row_has_an_approved_tag(dataset):
    assert set(dataset.tags) <= set(APPROVED_TAGS)


def test_every_approved_tag_has_enough_rows_to_validate_and_calibrate_on(dataset):
    counts = Counter(dataset.tags)
    assert {tag: counts[tag] for tag in APPROVED_TAGS if counts[tag] < MIN_ROWS_PER_TAG} == {}


def test_no_two_rows_have_the_same_content_up_to_case_and_punctuation(dataset):
    seen: dict[str, str] = {}
    same = []
    for e in dataset.examples:
        first = seen.setdefault(fingerprint(e.title, e.description), e.id)
        if first != e.id:
            same.append((first, e.id))
    assert same == []


def test_every_row_gives_the_model_some_words(dataset):
    assert [e.id for e in dataset.examples if not model_tokens(e.title, e.description)] == []


def test_every_row_is_a_valid_input_event(dataset):
    """Replays (loadgen, the integration tests) send the rows as they are."""
    for e in dataset.examples:
        RawContentEvent(id=e.id, title=e.title, description=e.description, created_on=e.created_on)


def test_every_text_normalises_the_same_in_a_batch_as_alone(dataset):
    texts = [t for e in dataset.examples for t in (e.title, e.description)]
    expected = [normalise_text(t).split() for t in texts]
    fields = normalised_batch_utf8(texts).decode().split("\0")[:-1]
    assert [field.split() for field in fields] == expected


def test_every_row_gets_its_normalised_fields_and_fingerprint_in_a_batch(dataset):
    urls = random.Random(0).choices(
        [None, "", "https://Example.org/Page/"], k=len(dataset.examples)
    )
    events = [(e.title, e.description, url) for e, url in zip(dataset.examples, urls, strict=True)]
    assert normalised_fields_batch(events) == [normalised_fields(*e) for e in events]
