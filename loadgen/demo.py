"""The stream `make run` replays: one that sends events down every route, so a newcomer sees the
whole loop, review included, from one command.

Rows the model was trained on are tagged almost always, so the stream adds what real traffic has:
content the model has never seen (some of it lands in review), content duplicates that differ
only in case, spacing or punctuation, and records no service could process.
"""

import random
from collections.abc import Sequence
from typing import Any

from loadgen.replay import messy
from training.data import Example

UNSEEN = [
    ("Quantum annealing for logistics", "Scheduling delivery trucks on a quantum computer."),
    ("Protein structure competition results", "How teams ranked in this year's folding challenge."),
    ("Sports analytics with wearable sensors", "Tracking athletes' workload across a season."),
    ("Weather forecasting ensembles", "Combining physical simulations for better forecasts."),
    ("Fraud detection on card payments", "Spotting unusual transactions in real time."),
    ("Recommender systems at scale", "Ranking items for millions of users."),
    ("Time series anomaly detection", "Finding outliers in sensor readings."),
    ("Robot grasping", "Teaching a robot arm to pick up objects it has never seen."),
    ("Speech recognition on device", "Transcribing audio without a server."),
    ("Causal inference primer", "Estimating treatment effects from observational data."),
    ("Feature store comparison", "Choosing between offline and online stores."),
    ("Data labelling workflows", "Managing annotators and label quality."),
    ("Tabular data with gradient boosting", "XGBoost versus deep learning on spreadsheets."),
    ("Reinforcement learning for games", "Agents that learn to play Atari."),
    ("Interview with a researcher", "Career advice and what comes next in the field."),
    ("Our team offsite notes", "What we decided about next quarter's roadmap."),
    ("A survey of everything", "Many methods, briefly."),
    ("Ten tips for productive mornings", "Routines that help engineers focus."),
    ("Federated learning on phones", "Training without collecting the data centrally."),
    ("Climate models and machine learning", "Emulating expensive simulations with neural nets."),
    ("Explainability for credit scoring", "SHAP values for loan decisions."),
    ("Drug discovery with graph networks", "Predicting molecule properties."),
    ("AutoML benchmark", "Comparing automated model search tools on fifty data sets."),
    ("Energy use of training runs", "Measuring the carbon cost of large models."),
]
"""Content outside the labelled set: what the model is unsure about comes from here."""

MALFORMED: list[bytes] = [
    b'{"id": "broken-json", "title": "unterminated',
    b"\xff\xfe not utf-8 \xc3\x28",
    b'{"id": "no-title", "description": "a record without its title", '
    b'"created_on": "2026-01-01T00:00:00"}',
    b'{"id": "bad-date", "title": "A title", "description": "", "created_on": "yesterday"}',
    b"[1, 2, 3]",
]
"""Records the service cannot process: each ends on the dead-letter topic with its error code."""


def demo_events(
    examples: Sequence[Example], id_prefix: str, seed: int = 0, duplicate_share: float = 0.05
) -> list[dict[str, Any] | bytes]:
    """Every example once and the unseen items, shuffled (seeded); then messy copies of a share of
    the examples under new ids (content duplicates, after their originals); then the malformed
    records."""
    rng = random.Random(seed)
    created = "2026-01-01T00:00:00"
    originals: list[dict[str, Any] | bytes] = [
        {
            "id": f"{id_prefix}-{e.id}",
            "title": e.title,
            "description": e.description,
            "created_on": e.created_on.replace(" ", "T"),
            "source": "replay",
        }
        for e in examples
    ]
    originals += [
        {
            "id": f"{id_prefix}-unseen-{i}",
            "title": title,
            "description": description,
            "created_on": created,
            "url": f"https://example.org/posts/{i}",
            "source": "demo",
        }
        for i, (title, description) in enumerate(UNSEEN)
    ]
    rng.shuffle(originals)
    copies = [
        {
            "id": f"{id_prefix}-copy-{i}",
            "title": messy(e.title, rng),
            "description": e.description,
            "created_on": created,
            "source": "demo",
        }
        for i, e in enumerate(rng.sample(list(examples), round(len(examples) * duplicate_share)))
    ]
    return [*originals, *copies, *MALFORMED]
