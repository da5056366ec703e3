"""Evaluation: overall and per-class metrics, slices, selective prediction, and report plots."""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from inference.classifier import Classifier
from inference.text import normalise_text
from schemas.tags import APPROVED_TAGS
from training.calibrate import precision_coverage_curve, selective_at
from training.data import Example


def _is_short(e: Example) -> bool:
    return len(normalise_text(f"{e.title} {e.description}").split()) < 12


_TRANSFORMER_WORDS = frozenset(("transformer", "transformers", "bert", "gpt", "llm"))


def _mentions_transformers(e: Example) -> bool:
    return not _TRANSFORMER_WORDS.isdisjoint(normalise_text(f"{e.title} {e.description}").split())


def _no_description(e: Example) -> bool:
    return not e.description.strip()


# Slices where a text classifier tends to go wrong: little text, or vocabulary shared across tags
# (transformers appear in vision and NLP alike).
SLICES: dict[str, Callable[[Example], bool]] = {
    "short_text": _is_short,
    "mentions_transformers": _mentions_transformers,
    "no_description": _no_description,
}


def _prf(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, float | int]:
    if not y_true:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "num_samples": 0}
    p, r, f, _ = precision_recall_fscore_support(
        y_true, y_pred, average="weighted", zero_division=0
    )
    return {"precision": float(p), "recall": float(r), "f1": float(f), "num_samples": len(y_true)}


def evaluate_examples(
    classifier: Classifier, examples: Sequence[Example], threshold: float | None
) -> dict[str, Any]:
    """Metrics document. With `threshold`, `selective` reports coverage and precision at it."""
    predictions = classifier.predict_many([(e.title, e.description) for e in examples])
    y_true = [e.tag for e in examples]
    y_pred = [p[0] for p in predictions]
    per_p, per_r, per_f, support = precision_recall_fscore_support(
        y_true, y_pred, labels=list(APPROVED_TAGS), zero_division=0
    )
    per_class = {
        tag: {
            "precision": float(per_p[i]),
            "recall": float(per_r[i]),
            "f1": float(per_f[i]),
            "num_samples": int(support[i]),
        }
        for i, tag in enumerate(APPROVED_TAGS)
    }
    slices = {}
    for name, member in SLICES.items():
        idx = [i for i, e in enumerate(examples) if member(e)]
        slices[name] = _prf([y_true[i] for i in idx], [y_pred[i] for i in idx])
    correct = [t == p for t, p in zip(y_true, y_pred, strict=True)]
    report: dict[str, Any] = {
        "overall": _prf(y_true, y_pred),
        "per_class": per_class,
        "slices": slices,
        "_predictions": [{"tag": p[0], "confidence": p[1]} for p in predictions],
        "_outcomes": [{"correct": ok} for ok in correct],
    }
    if threshold is not None:
        report["selective"] = selective_at([p[1] for p in predictions], correct, threshold)
    return report


def public(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if not k.startswith("_")}


def write_plots(report: dict[str, Any], examples: Sequence[Example], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    y_true = [e.tag for e in examples]
    y_pred = [p["tag"] for p in report["_predictions"]]
    confidences = [p["confidence"] for p in report["_predictions"]]
    correct = [o["correct"] for o in report["_outcomes"]]

    cm = confusion_matrix(y_true, y_pred, labels=list(APPROVED_TAGS))
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    image = ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(APPROVED_TAGS)), APPROVED_TAGS, rotation=30, ha="right")
    ax.set_yticks(range(len(APPROVED_TAGS)), APPROVED_TAGS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(APPROVED_TAGS)):
        for j in range(len(APPROVED_TAGS)):
            color = "white" if cm[i, j] > cm.max() / 2 else "black"
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color=color)
    fig.colorbar(image)
    ax.set_title(f"Confusion matrix (n={len(examples)})")
    fig.tight_layout()
    cm_path = out_dir / "confusion_matrix.png"
    fig.savefig(cm_path, dpi=120)
    plt.close(fig)

    curve = precision_coverage_curve(confidences, correct)
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.plot([c for _, c, _ in curve], [p for _, _, p in curve], marker=".", lw=1)
    sel = report.get("selective")
    if sel:
        ax.axvline(sel["coverage"], color="grey", ls="--", lw=1)
        ax.annotate(
            f"threshold {sel['threshold']:.2f}\ncoverage {sel['coverage']:.2f}\n"
            f"precision {sel['precision']:.3f}",
            (sel["coverage"], sel["precision"]),
            textcoords="offset points",
            xytext=(-110, -50),
        )
    ax.set_xlabel("coverage (share of events kept)")
    ax.set_ylabel("precision of kept events")
    ax.set_ylim(min(0.5, min((p for _, _, p in curve), default=0.5)), 1.01)
    ax.set_title("Precision vs coverage")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    pc_path = out_dir / "precision_coverage.png"
    fig.savefig(pc_path, dpi=120)
    plt.close(fig)
    return [cm_path, pc_path]
