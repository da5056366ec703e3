"""`python -m schemas export DIR`: write one JSON Schema file per record model (each topic's, and
the model artifact's metadata)."""

import argparse
import json
import sys
from pathlib import Path

from pydantic import BaseModel

from schemas.artifact import ArtifactMetadata
from schemas.events import ClassifiedEvent, DeadLetterEvent, DuplicateEvent, RawContentEvent
from schemas.feedback import FeedbackRecord
from schemas.topics import DEFAULT_TOPICS

EXPORTS: dict[str, tuple[type[BaseModel], list[str]]] = {
    "raw-content-event": (RawContentEvent, [DEFAULT_TOPICS.input]),
    "classified-event": (ClassifiedEvent, [DEFAULT_TOPICS.tagged, DEFAULT_TOPICS.review]),
    "duplicate-event": (DuplicateEvent, [DEFAULT_TOPICS.duplicate]),
    "dead-letter-event": (DeadLetterEvent, [DEFAULT_TOPICS.dead_letter]),
    "feedback-record": (FeedbackRecord, [DEFAULT_TOPICS.feedback]),
    "artifact-metadata": (ArtifactMetadata, []),
}


def export(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (model, topics) in EXPORTS.items():
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["x-topics"] = topics
        path = out_dir / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("export", help="write JSON Schema files for every topic's records")
    p.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    for path in export(args.out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
