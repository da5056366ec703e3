"""The service's garbage-collector settings for the batch loop (`consumer.app.tune_gc`)."""

import gc
from collections.abc import Iterator

import pytest

from consumer.app import GC_YOUNG_THRESHOLD, tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_tune_gc_collects_the_young_generation_every_few_batches(restored_gc: None) -> None:
    tune_gc()
    assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD


def test_tune_gc_keeps_the_older_generations_thresholds(restored_gc: None) -> None:
    _, older, oldest = gc.get_threshold()
    tune_gc()
    assert gc.get_threshold()[1:] == (older, oldest)


def test_tune_gc_moves_start_up_objects_out_of_later_collections(restored_gc: None) -> None:
    start_up_object = {"model": [1, 2, 3]}
    tune_gc()
    assert gc.get_freeze_count() > 0
    assert not any(o is start_up_object for o in gc.get_objects())
