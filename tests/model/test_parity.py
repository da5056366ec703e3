"""The service's compiled batch path answers as fastText's own per-line call on the same models,
on every row of the labelled data set (tests/unit does the same on the tiny model and odd texts)."""

from inference.artifact import Artifact
from inference.predictor import Predictor, ReferencePredictor
from tests.support.parity import assert_same_answers


def test_every_data_set_row_gets_fasttexts_probabilities(model_artifact: Artifact, dataset):
    classifier: Predictor = model_artifact.classifier
    reference: Predictor = model_artifact.classifier.reference()
    assert isinstance(reference, ReferencePredictor)
    pairs = [(e.title, e.description) for e in dataset.examples]
    assert_same_answers(classifier, reference, pairs)
