"""Load and validate the labelled data set; bad data stops training, naming the rows."""

import csv
import hashlib
import io
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from schemas.tags import APPROVED_TAGS

DEFAULT_DATASET_LOC = (
    "https://raw.githubusercontent.com/GokuMohandas/Made-With-ML/main/datasets/dataset.csv"
)
REQUIRED_COLUMNS = ("id", "created_on", "title", "description", "tag")
MIN_ROWS_PER_TAG = 2


class DataValidationError(ValueError):
    """Raised with every problem found, each naming its rows, so one run shows all of them."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid data set:\n  - " + "\n  - ".join(problems))


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    created_on: str
    title: str
    description: str
    tag: str


@dataclass(frozen=True, slots=True)
class Dataset:
    examples: list[Example]
    source: str
    sha256: str

    @property
    def tags(self) -> list[str]:
        return [e.tag for e in self.examples]


def dataset_location(explicit: str | os.PathLike[str] | None = None) -> str:
    return str(explicit or os.environ.get("DATASET_LOC") or DEFAULT_DATASET_LOC)


def read_bytes(location: str) -> bytes:
    if location.startswith(("http://", "https://")):
        with urllib.request.urlopen(location, timeout=30) as response:
            return response.read()
    return Path(location).read_bytes()


def _row_list(rows: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(r) for r in rows[:limit])
    return shown + (f" (+{len(rows) - limit} more)" if len(rows) > limit else "")


def parse(
    raw: bytes,
    source: str = "<bytes>",
    *,
    min_rows_per_tag: int = MIN_ROWS_PER_TAG,
    allow_empty: bool = False,
) -> Dataset:
    """Parse and validate CSV bytes. Rows in errors are 1-based data rows (header = 0).

    A labels file exported from feedback (`parse_feedback`) is checked row by row like the data
    set, but may be empty and may lack tags: it is trained on together with the data set, and the
    combination must hold every tag (`merge`).
    """
    text = raw.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = tuple(reader.fieldnames or ())
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise DataValidationError([f"missing columns {missing}; found {list(columns)}"])
    rows = list(reader)
    problems: list[str] = []
    if not rows and not allow_empty:
        problems.append("no rows")

    null_tag = [i for i, r in enumerate(rows, 1) if not (r["tag"] or "").strip()]
    null_title = [i for i, r in enumerate(rows, 1) if not (r["title"] or "").strip()]
    null_id = [i for i, r in enumerate(rows, 1) if not (r["id"] or "").strip()]
    if null_tag:
        problems.append(f"null tag in rows {_row_list(null_tag)}")
    if null_title:
        problems.append(f"null title in rows {_row_list(null_title)}")
    if null_id:
        problems.append(f"null id in rows {_row_list(null_id)}")

    bad_tags: dict[str, list[int]] = {}
    for i, r in enumerate(rows, 1):
        tag = (r["tag"] or "").strip()
        if tag and tag not in APPROVED_TAGS:
            bad_tags.setdefault(tag, []).append(i)
    for tag, where in sorted(bad_tags.items()):
        problems.append(
            f"unapproved tag {tag!r} in rows {_row_list(where)}; approved: {list(APPROVED_TAGS)}"
        )

    seen_ids: dict[str, int] = {}
    seen_pairs: dict[tuple[str, str], int] = {}
    for i, r in enumerate(rows, 1):
        rid = (r["id"] or "").strip()
        if rid:
            if rid in seen_ids:
                problems.append(f"duplicate id {rid!r} in rows {seen_ids[rid]} and {i}")
            else:
                seen_ids[rid] = i
        pair = ((r["title"] or "").strip(), (r["description"] or "").strip())
        if pair[0]:
            if pair in seen_pairs:
                problems.append(
                    f"duplicate (title, description) in rows {seen_pairs[pair]} and {i}: "
                    f"{pair[0][:60]!r}"
                )
            else:
                seen_pairs[pair] = i

    problems += _too_few_per_tag([(r["tag"] or "").strip() for r in rows], min_rows_per_tag)

    if problems:
        raise DataValidationError(problems)
    examples = [
        Example(
            id=r["id"].strip(),
            created_on=(r["created_on"] or "").strip(),
            title=r["title"].strip(),
            description=(r["description"] or "").strip(),
            tag=r["tag"].strip(),
        )
        for r in rows
    ]
    return Dataset(examples=examples, source=source, sha256=hashlib.sha256(raw).hexdigest())


def _too_few_per_tag(tags: list[str], minimum: int) -> list[str]:
    counts = {tag: 0 for tag in APPROVED_TAGS}
    for tag in tags:
        if tag in counts:
            counts[tag] += 1
    too_few = {tag: n for tag, n in counts.items() if n < minimum}
    if not tags or not too_few:
        return []
    return [
        f"every approved tag needs at least {minimum} rows (the model must know all "
        f"of them and the split is stratified); too few: {too_few}"
    ]


def load(location: str | os.PathLike[str] | None = None) -> Dataset:
    loc = dataset_location(location)
    return parse(read_bytes(loc), source=loc)


def parse_feedback(raw: bytes, source: str = "<bytes>") -> Dataset:
    """A labels file from `python -m training feedback export`: every row check of the data set,
    without its minimum rows per tag (a week of reviews may not touch every tag, or may be none)."""
    return parse(raw, source, min_rows_per_tag=0, allow_empty=True)


def load_feedback(location: str | os.PathLike[str]) -> Dataset:
    return parse_feedback(read_bytes(str(location)), source=str(location))


def csv_bytes(examples: list[Example]) -> bytes:
    """Examples in the data set's format (its columns, in its order), as `parse` reads them."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REQUIRED_COLUMNS)
    for e in examples:
        writer.writerow([e.id, e.created_on, e.title, e.description, e.tag])
    return out.getvalue().encode()


def _text_key(e: Example) -> tuple[str, str]:
    return (e.title.strip(), e.description.strip())


@dataclass(frozen=True, slots=True)
class Merged:
    dataset: Dataset
    replaced: int
    """Data set rows a feedback row replaced."""


def merge(dataset: Dataset, feedback: Dataset) -> Merged:
    """The data set with the feedback rows in it: a feedback row replaces every data set row with
    its id or its (title, description), because a person's decision is newer than the data set's
    label and the same text must not carry two labels (nor sit in both sides of a split).

    The result keeps the data set's source and checksum (the feedback file's are recorded
    beside them) and must still hold every tag `MIN_ROWS_PER_TAG` times.
    """
    ids = {e.id for e in feedback.examples}
    texts = {_text_key(e) for e in feedback.examples}
    kept = [e for e in dataset.examples if e.id not in ids and _text_key(e) not in texts]
    examples = kept + list(feedback.examples)
    problems = _too_few_per_tag([e.tag for e in examples], MIN_ROWS_PER_TAG)
    if problems:
        raise DataValidationError([f"data set with feedback from {feedback.source}: {problems[0]}"])
    return Merged(
        Dataset(examples=examples, source=dataset.source, sha256=dataset.sha256),
        replaced=len(dataset.examples) - len(kept),
    )
