"""Batched inference gives fastText's own numbers: its predict() is the oracle here.

On the tiny model and the synthetic rows; tests/model holds the production model to the same
numbers on every row of the labelled data set.
"""

import numpy as np
import pytest

from inference.batch_predict import BatchPredictor, fasttext_hash
from inference.classifier import LABEL_PREFIX, Classifier
from inference.text import (
    model_tokens,
    normalise_text,
    normalised_batch,
    normalised_fields_batch,
    views_normalised,
)
from tests.support import synthetic
from tests.support.parity import BIN_STEP, assert_same_answers
from tests.support.synthetic import ODD_TEXTS
from training.config import FastTextParams
from training.fit import fit


def fasttext_probabilities(models, labels, tokens: list[str]) -> list[float]:
    """What fastText's own predict() gives for one line, averaged over the members."""
    total = dict.fromkeys(labels, 0.0)
    for model in models:
        for p, label in model.f.predict(" ".join(tokens) + "\n", -1, 0.0, "strict"):
            total[label] += p / len(models)
    return [min(total[label], 1.0) for label in labels]


def assert_matches_fasttext(predictor, models, labels, lines) -> None:
    got = predictor.predict(lines)
    expected = np.array([fasttext_probabilities(models, labels, tokens) for tokens in lines])
    gaps = np.abs(got - expected).max(axis=1)
    assert gaps.max() <= BIN_STEP
    assert np.mean(gaps <= 1e-6) >= 0.99, f"{np.sum(gaps > 1e-6)} of {len(lines)} lines differ"


@pytest.fixture(scope="module")
def shipped(tiny_artifact):
    models = tiny_artifact.classifier.fasttext_models
    labels = models[0].get_labels()
    return models, labels


@pytest.fixture(scope="module")
def examples():
    return synthetic.examples()


def test_every_training_row_gets_fasttexts_probabilities(shipped, examples):
    models, labels = shipped
    lines = [model_tokens(e.title, e.description) for e in examples]
    assert_matches_fasttext(BatchPredictor(models, labels, min_batch=1), models, labels, lines)


def test_the_classifier_answers_as_its_reference_predictor(tiny_artifact, examples):
    classifier = tiny_artifact.classifier
    pairs = [(e.title, e.description) for e in examples] + list(ODD_TEXTS)
    assert_same_answers(classifier, classifier.reference(), pairs)


def test_unseen_non_ascii_and_empty_lines_get_fasttexts_probabilities(shipped):
    models, labels = shipped
    lines = [model_tokens(t, d) for t, d in ODD_TEXTS]
    assert_matches_fasttext(BatchPredictor(models, labels, min_batch=1), models, labels, lines)


def test_a_line_scores_the_same_alone_and_inside_a_batch(shipped, examples):
    models, labels = shipped
    predictor = BatchPredictor(models, labels)
    lines = [model_tokens(e.title, e.description) for e in examples]
    batch = predictor.predict(lines)
    for i in (0, 17, len(lines) - 1):
        assert predictor.predict([lines[i]])[0].tolist() == pytest.approx(batch[i].tolist())


@pytest.mark.parametrize("loss", ["softmax", "ns"])
def test_other_losses_and_word_trigrams_get_fasttexts_probabilities(examples, loss):
    params = FastTextParams(loss=loss, wordNgrams=3, epoch=5, bucket=10_000)
    model = fit(examples[::2], params)
    labels = model.get_labels()
    lines = [model_tokens(e.title, e.description) for e in examples[1::2]]
    lines += [model_tokens(t, d) for t, d in ODD_TEXTS]
    assert_matches_fasttext(BatchPredictor([model], labels, min_batch=1), [model], labels, lines)


def test_members_with_different_buckets_and_orders_get_fasttexts_probabilities(examples):
    shared = FastTextParams(wordNgrams=2, epoch=30, bucket=10_000)
    members = [
        fit(examples[::2], shared),
        fit(examples[::2], shared.model_copy(update={"loss": "softmax", "minn": 0, "maxn": 0})),
        fit(examples[::2], shared.model_copy(update={"wordNgrams": 3, "bucket": 20_000})),
        fit(examples[::2], shared.model_copy(update={"wordNgrams": 1})),
    ]
    labels = members[0].get_labels()
    lines = [model_tokens(e.title, e.description) for e in examples[1::2]]
    lines += [model_tokens(t, d) for t, d in ODD_TEXTS]
    predictor = BatchPredictor(members, labels, min_batch=1)
    assert_matches_fasttext(predictor, members, labels, lines)


def test_hierarchical_softmax_is_refused(examples):
    model = fit(
        examples,
        FastTextParams.model_construct(
            **{**FastTextParams().model_dump(), "loss": "hs", "lr": 0.1, "epoch": 1}
        ),
    )
    with pytest.raises(ValueError, match="hs"):
        BatchPredictor([model], model.get_labels())


@pytest.mark.parametrize("token", ["graph", "über", "日本語", "x" * 40, "ẞ"])
def test_token_hash_is_fasttexts(shipped, token):
    model = shipped[0][0]
    bucket = model.f.getArgs().bucket
    nwords = len(model.get_words())
    assert nwords + (fasttext_hash(token) & 0xFFFFFFFF) % bucket == model.f.getSubwordId(token)


def test_token_cache_stays_bounded_and_keeps_answering(shipped):
    models, labels = shipped
    predictor = BatchPredictor(models, labels, max_cached_tokens=3000, min_batch=1)
    sizes = []
    for batch in range(8):
        lines = [[f"new{batch}x{i}x{j}" for j in range(5)] + ["images"] for i in range(200)]
        predictor.predict(lines)
        assert predictor.cached_tokens <= 3000
        sizes.append(len(predictor._table))
    assert sizes[3:] == [sizes[3]] * 5
    assert_matches_fasttext(predictor, models, labels, [*lines[:20], ["images", "graph"]])


def test_a_failure_while_caching_new_tokens_leaves_the_cache_usable(shipped, monkeypatch):
    models, labels = shipped
    predictor = BatchPredictor(models, labels, min_batch=1)
    member = predictor._members[0]
    real = member.token_rows
    monkeypatch.setattr(member, "token_rows", lambda token: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        predictor.predict([["brandnewword", "images"]])
    monkeypatch.setattr(member, "token_rows", real)
    assert_matches_fasttext(predictor, models, labels, [["brandnewword", "images"], ["graph"]])


def test_empty_batch_gives_no_rows(shipped):
    models, labels = shipped
    for min_batch in (0, 1, 16):
        predictor = BatchPredictor(models, labels, min_batch=min_batch)
        assert predictor.predict([]).shape == (0, len(labels))


def test_labels_come_out_in_the_order_asked_for(shipped, examples):
    models, labels = shipped
    reverse = list(reversed(labels))
    lines = [model_tokens(e.title, e.description) for e in examples]
    forward = BatchPredictor(models, labels, min_batch=1)
    backward = BatchPredictor(models, reverse, min_batch=1)
    assert backward.predict(lines)[:, ::-1].tolist() == forward.predict(lines).tolist()
    assert all(label.startswith(LABEL_PREFIX) for label in labels)


def test_a_classifier_batch_scores_both_views_as_fasttext_does(shipped, examples):
    models, labels = shipped
    classifier = Classifier(models, description_weight=0.25)
    got = classifier.predict_many([(e.title, e.description) for e in examples])
    expected = []
    for e in examples:
        views = views_normalised(normalise_text(e.title), normalise_text(e.description))
        full = np.array(fasttext_probabilities(models, labels, views.full))
        alone = np.array(fasttext_probabilities(models, labels, views.description))
        w = 0.25 if views.description else 0.0
        expected.append((full + w * alone) / (1 + w))
    columns = [labels.index(LABEL_PREFIX + tag) for tag in classifier.labels]
    gaps = np.abs(np.array([list(p.values()) for _, _, p in got]) - np.array(expected)[:, columns])
    assert gaps.max() <= BIN_STEP
    assert np.mean(gaps.max(axis=1) <= 1e-6) >= 0.99


def test_a_few_events_get_the_answers_they_get_in_a_large_batch(shipped, examples):
    classifier = Classifier(shipped[0], description_weight=0.25)
    pairs = [(e.title, e.description) for e in examples]
    in_batch = classifier.predict_many(pairs)[:3]
    for alone, batched in zip(classifier.predict_many(pairs[:3]), in_batch, strict=True):
        assert list(alone[2].values()) == pytest.approx(list(batched[2].values()), abs=BIN_STEP)


def test_normalised_and_raw_batches_get_the_same_answers(shipped, examples):
    classifier = Classifier(shipped[0], description_weight=0.25)
    pairs = [(e.title, e.description) for e in examples]
    normalised = [(normalise_text(t), normalise_text(d)) for t, d in pairs]
    assert classifier.predict_normalised(normalised) == classifier.predict_many(pairs)


def test_a_normalised_buffer_gets_the_answers_of_the_fields_cut_from_it(shipped, examples):
    classifier = Classifier(shipped[0], description_weight=0.25)
    events = [(e.title, e.description, None) for e in examples] + [(*t, None) for t in ODD_TEXTS]
    buffer, _ = normalised_batch(events)
    pairs = [(title, description) for title, description, _ in normalised_fields_batch(events)]
    assert classifier.predict_normalised_utf8(buffer, len(events)) == (
        classifier.predict_normalised(pairs)
    )


def test_a_buffer_of_too_few_events_for_the_batch_path_gets_no_answers(shipped):
    classifier = Classifier(shipped[0], description_weight=0.25)
    buffer, _ = normalised_batch([("Object detection", "boxes in images", None)])
    assert classifier.predict_normalised_utf8(buffer, 1) is None


def test_lines_with_skipped_tokens_are_refused(shipped):
    models, labels = shipped
    predictor = BatchPredictor(models, labels, skipped={"of"}, min_batch=1)
    with pytest.raises(ValueError, match="skipped"):
        predictor.predict([["deployment", "of", "vision"]])


@pytest.mark.parametrize("token", ["two words", "", "tab\there"])
def test_tokens_that_would_split_differently_are_refused(shipped, token):
    models, labels = shipped
    predictor = BatchPredictor(models, labels, min_batch=1)
    with pytest.raises(ValueError, match="whitespace"):
        predictor.predict([["deployment", token, "vision"]])
