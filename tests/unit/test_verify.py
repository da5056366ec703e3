"""Verification of a loaded candidate before it serves: the smoke set and the latency budget.

The built-in smoke set is made for models trained on the labelled data set (tests/model holds
such a model to it); here the tiny synthetic model gets a smoke set of its own training rows.
"""

import pytest

from inference.verify import SMOKE_SET, SmokeExample, VerificationError, verify
from schemas.tags import APPROVED_TAGS
from tests.support import stub, synthetic

GENEROUS = 1.0
"""A budget per event no model misses (one second)."""


def tiny_smoke_set() -> list[SmokeExample]:
    """The first synthetic row of each tag: rows the tiny model was trained on."""
    first: dict[str, SmokeExample] = {}
    for tag, title, description in synthetic.ROWS:
        first.setdefault(tag, SmokeExample(tag, title, description))
    return list(first.values())


def test_a_good_model_passes(tiny_artifact):
    verify(tiny_artifact, latency_budget_seconds=GENEROUS, smoke_set=tiny_smoke_set())


def test_a_model_that_mistags_a_smoke_example_is_refused_naming_it():
    wrong = SmokeExample("mlops", "Object detection in images", "YOLO boxes around objects")
    right = SmokeExample("natural-language-processing", "BERT for text", "a language model")
    with pytest.raises(VerificationError, match=r"1 of 2 .*Object detection in images"):
        verify(stub.stub_artifact(), latency_budget_seconds=GENEROUS, smoke_set=[right, wrong])


def test_a_model_over_the_latency_budget_is_refused(tiny_artifact):
    with pytest.raises(VerificationError, match="budget"):
        verify(tiny_artifact, latency_budget_seconds=1e-12, smoke_set=tiny_smoke_set())


def test_a_model_that_raises_on_the_smoke_set_is_refused():
    artifact = stub.stub_artifact()

    def broken(pairs):
        raise RuntimeError("segfault averted")

    artifact.classifier.predict_normalised = broken
    with pytest.raises(VerificationError, match="RuntimeError: segfault averted"):
        verify(artifact, latency_budget_seconds=GENEROUS, smoke_set=tiny_smoke_set())


def test_the_built_in_smoke_set_covers_every_approved_tag():
    assert {e.tag for e in SMOKE_SET} == set(APPROVED_TAGS)


def test_a_smoke_set_with_an_unapproved_tag_is_a_programming_error():
    with pytest.raises(ValueError, match="not approved"):
        verify(
            stub.stub_artifact(),
            latency_budget_seconds=GENEROUS,
            smoke_set=[SmokeExample("robotics", "Robot arms", "")],
        )
