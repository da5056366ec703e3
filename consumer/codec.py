"""Bytes ⇄ events: decode and validate input, build and serialise output records via `schemas`.

Output records are built by the batch encoders (`ClassifiedEncoder`, `DuplicateEncoder`) from
parts that were each validated once: the event's fields when it was decoded (`decode`, against
`RawContentEvent`'s own field schemas, whose fields every output record repeats, kept as a dict
of them: `Fields`), the model's answers per batch
against the output schema's own field types (`checked_predictions`: a tag outside
`APPROVED_TAGS` is rejected there, so it is never emitted), and the fields every record of a
batch shares once per batch. Validating each record again cost more than the model did
(docs/performance.md); the property tests prove the bytes equal those of the record validated
whole through its pydantic model. A batch's classified records are spliced in C from one orjson
serialisation of its events and one of its answers' matrix (`ClassifiedEncoder.outputs_of_answers`,
`consumer.splice`), for a fraction of serialising each record alone.
"""

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, cast

import numpy as np
import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import SchemaValidator
from pydantic_core import core_schema as cs

from consumer.splice import classified_outputs
from inference.predictor import Answers, Prediction
from schemas.events import (
    ClassifiedEvent,
    DeadLetterEvent,
    DuplicateEvent,
    ErrorCode,
    ErrorInfo,
    RawContentEvent,
)


@dataclass(frozen=True, slots=True)
class DecodeError(Exception):
    code: ErrorCode
    message: str
    details: tuple[dict[str, object], ...] = ()


# A decoded event: its `RawContentEvent` fields as the model validated them, in the model's order
# (defaults filled in, unknown keys dropped).
Fields = dict[str, Any]


def _fields_validator(model: type[BaseModel]) -> SchemaValidator:
    """A validator of `model`'s own field schemas, config included, that gives a dict of the
    fields instead of an instance: the same checks and values without the instance and its
    fields-set bookkeeping (docs/performance.md), the schema still defined once, by the model.
    The unit tests hold the two equal on accepted and rejected payloads alike."""
    schema = model.__pydantic_core_schema__
    if schema.get("type") != "model" or schema["schema"].get("type") != "model-fields":
        raise ImportError(f"{model.__name__}'s core schema changed shape: update consumer.codec")
    fields = {
        name: cs.typed_dict_field(field["schema"], required=field["schema"]["type"] != "default")
        for name, field in schema["schema"]["fields"].items()
    }
    config = schema.get("config")
    extra = config.get("extra_fields_behavior") if config else None
    return SchemaValidator(cs.typed_dict_schema(fields, extra_behavior=extra), config)


_validate_json = _fields_validator(RawContentEvent).validate_json
_validate_model_json = RawContentEvent.__pydantic_validator__.validate_json


def decode(value: bytes | None, max_bytes: int) -> Fields:
    """Raise `DecodeError` naming why the payload is unusable; never anything else."""
    if value is None:
        raise DecodeError("invalid_json", "empty payload (null record value)")
    if len(value) > max_bytes:
        raise DecodeError("oversize", f"payload is {len(value)} bytes; limit {max_bytes}")
    try:
        # The bytes as they are: pydantic's parser rejects any invalid UTF-8 in them, so a payload
        # is decoded to str only to name why it failed (a UTF-8 error first, as it always was).
        return cast(Fields, _validate_json(value))
    except ValidationError:
        pass
    try:  # the model itself names the failure, so dead letters say what they always said
        return dict(_validate_model_json(value).__dict__)
    except ValidationError as exc:
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as utf8:
            raise DecodeError(
                "invalid_utf8", f"payload is not UTF-8: {utf8.reason} at {utf8.start}"
            ) from None
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise DecodeError("invalid_json", f"payload is not JSON: {errors[0]['msg']}") from None
        details: tuple[dict[str, object], ...] = tuple(
            {"loc": ".".join(str(p) for p in e["loc"]), "type": e["type"], "msg": e["msg"]}
            for e in errors
        )
        first = details[0]
        raise DecodeError(
            "schema_validation",
            f"{len(details)} validation error(s); first: {first['loc']}: {first['msg']}",
            details,
        ) from None


def decode_all(values: Sequence[bytes | None], max_bytes: int) -> list[Fields] | None:
    """Every payload of a batch validated in one C-level pass, or None when any of them would
    fail `decode`: the caller then decodes the batch one record at a time, so `decode` alone
    names each failure (and the common, all-valid batch pays no Python frame per record)."""
    if None in values:
        return None
    payloads = cast(Sequence[bytes], values)
    if max(map(len, payloads), default=0) > max_bytes:
        return None
    try:
        return cast(list[Fields], list(map(_validate_json, payloads)))
    except Exception:  # whichever record failed, `decode` says why
        return None


def _field_type(model: type[BaseModel], name: str) -> Any:
    """`model`'s own type of field `name`, constraints included: the output records' parts are
    checked against the schema itself, never against a copy of it that could drift."""
    field = model.model_fields[name]
    return Annotated[field.annotation, field]


_CONTENT_FIELDS = tuple(RawContentEvent.model_fields)
_PREDICTION_FIELDS = ("tag", "confidence", "probabilities")
_CLASSIFIED_BATCH_FIELDS = ("threshold", "model_version", "consumed_at", "classified_at")
_DUPLICATE_BATCH_FIELDS = ("consumed_at",)
# The encoders write each record's fields in its model's order, as pydantic does: the event's,
# then the per-event ones, then the batch's. A schema change that breaks this fails at import.
if tuple(ClassifiedEvent.model_fields) != (
    *_CONTENT_FIELDS,
    *_PREDICTION_FIELDS,
    "route",
    *_CLASSIFIED_BATCH_FIELDS,
) or tuple(DuplicateEvent.model_fields) != (
    *_CONTENT_FIELDS,
    "duplicate_of",
    "fingerprint",
    *_DUPLICATE_BATCH_FIELDS,
):
    raise ImportError("schemas.events changed its field order: update consumer.codec's encoders")


def _fields_tuple(model: type[BaseModel], names: tuple[str, ...]) -> Any:
    """A tuple type of `model`'s fields `names`, one validator call for several fields."""
    return tuple.__class_getitem__(tuple(_field_type(model, name) for name in names))


def _validator(type_: Any) -> Any:
    return TypeAdapter[Any](type_).validate_python


_ANSWER: Any = _fields_tuple(ClassifiedEvent, _PREDICTION_FIELDS)
_validate_answers = _validator(list[_ANSWER])
_validate_answer = _validator(_ANSWER)
_validate_classified_batch = _validator(_fields_tuple(ClassifiedEvent, _CLASSIFIED_BATCH_FIELDS))
_validate_consumed_at = _validator(_field_type(DuplicateEvent, "consumed_at"))
_validate_duplicate_of = _validator(_field_type(DuplicateEvent, "duplicate_of"))
_validate_fingerprint = _validator(_field_type(DuplicateEvent, "fingerprint"))


def checked_predictions(
    predictions: Sequence[Prediction | Exception],
) -> list[Prediction | Exception]:
    """The model's answers checked against `ClassifiedEvent`'s own `tag`, `confidence` and
    `probabilities` types (approved tags only, probabilities in [0, 1]), in one call per batch.
    An answer that fails is replaced by its `ValidationError` (an exception already in its place
    stays), so only its own event is dead-lettered."""
    try:
        return _validate_answers(predictions)
    except ValidationError:
        pass
    checked: list[Prediction | Exception] = []
    for prediction in predictions:
        if isinstance(prediction, Exception):
            checked.append(prediction)
            continue
        try:
            checked.append(_validate_answer(prediction))
        except ValidationError as exc:
            checked.append(exc)
    return checked


def answers_fit_the_schema(answers: Answers) -> bool:
    """Whether every answer of a batch kept as a matrix (`Answers`) passes `checked_predictions`,
    read off the matrix in one validator call: each label both as the tag and as a key of the
    probabilities, with the smallest and with the largest probability of the batch as the
    confidence and as every probability, through `ClassifiedEvent`'s own types. An answer's
    tag is one of the labels and its confidence and probabilities lie between the two, so if
    these pass, every answer does (approved tags; no probability outside [0, 1], nor NaN)."""
    labels, matrix = answers.labels, answers.probabilities
    if not matrix.size:
        return True
    if len(set(labels)) != len(labels):  # a dict per answer would keep one of each
        return False
    extremes = (float(matrix.min()), float(matrix.max()))
    probes = [(label, p, dict.fromkeys(labels, p)) for label in labels for p in extremes]
    try:
        _validate_answers(probes)
    except ValidationError:
        return False
    return True


def _tail(fields: tuple[str, ...], values: tuple[Any, ...]) -> bytes:
    """The batch's shared fields as the end of a JSON object: `,"a":1,"b":2}`."""
    return b"," + orjson.dumps(dict(zip(fields, values, strict=True)))[1:]


class ClassifiedEncoder:
    """Builds one batch's `ClassifiedEvent` records from validated parts, the same bytes as a
    record validated whole: the decoded event, an answer from `checked_predictions`, the route,
    and the batch's threshold, model version and times (validated here, once).

    :param threshold: the serving model's review threshold.
    :param model_version: the serving model's version.
    :param consumed_at: when the batch was consumed.
    :param classified_at: when the batch was classified.
    """

    __slots__ = ("_tail", "_threshold")

    def __init__(
        self,
        *,
        threshold: float,
        model_version: str,
        consumed_at: datetime,
        classified_at: datetime,
    ) -> None:
        values = _validate_classified_batch((threshold, model_version, consumed_at, classified_at))
        self._threshold: float = values[0]
        self._tail = _tail(_CLASSIFIED_BATCH_FIELDS, values)

    def __call__(
        self,
        event: Fields,
        tag: str,
        confidence: float,
        probabilities: dict[str, float],
        route: str,
    ) -> bytes:
        """:param event: a decoded (hence validated) input event.
        :param tag: with `confidence` and `probabilities`, an answer from `checked_predictions`.
        :param route: "tagged" or "review"."""
        if route != "tagged" and route != "review":
            raise ValueError(f"unknown route {route!r}")
        record = {
            **event,
            "tag": tag,
            "confidence": confidence,
            "probabilities": probabilities,
            "route": route,
        }
        return orjson.dumps(record)[:-1] + self._tail

    def outputs_of_answers(
        self,
        events: list[Fields],
        ids: list[str],
        answers: Answers,
        topics: tuple[str, str],
        make: Callable[[tuple[str, bytes, bytes, str, str]], Any],
    ) -> list[Any]:
        """Every event's record and route at once, the bytes `__call__` gives each: the events'
        fields serialised by orjson in one call, the answers' rows in another (as float64, the
        float each probability is in a `Prediction`), and the records spliced from them in C
        (`consumer.splice`), no tuple or dict per event. Only for answers that
        `answers_fit_the_schema`; raises when an event cannot be serialised (the caller then
        encodes one event at a time).

        :param ids: each event's id as str (its key, UTF-8).
        :param answers: each event's answer.
        :param topics: (tagged topic, review topic): the tagged one when an answer's confidence
            reaches the threshold.
        :param make: builds an output from (topic, key, value, route, tag)."""
        events_json = orjson.dumps(events)
        matrix = answers.probabilities
        rows_json = orjson.dumps(matrix.astype(np.float64), option=orjson.OPT_SERIALIZE_NUMPY)
        labels_json = [orjson.dumps(label) for label in answers.labels]
        return classified_outputs(
            events_json,
            rows_json,
            matrix,
            answers.top(),
            answers.labels,
            labels_json,
            ids,
            self._threshold,
            self._tail,
            topics,
            make,
        )


class DuplicateEncoder:
    """Builds one batch's `DuplicateEvent` records from validated parts, the same bytes as a
    record validated whole: the decoded event, the first id and fingerprint (validated per
    record; duplicates are a minority) and the batch's consumption time (validated here, once).

    :param consumed_at: when the batch was consumed.
    """

    __slots__ = ("_tail",)

    def __init__(self, *, consumed_at: datetime) -> None:
        self._tail = _tail(_DUPLICATE_BATCH_FIELDS, (_validate_consumed_at(consumed_at),))

    def __call__(self, event: Fields, duplicate_of: str | int, fingerprint: str) -> bytes:
        """:param event: a decoded (hence validated) input event.
        :param duplicate_of: the id the content was first seen under.
        :param fingerprint: the content's fingerprint."""
        record = {
            **event,
            "duplicate_of": _validate_duplicate_of(duplicate_of),
            "fingerprint": _validate_fingerprint(fingerprint),
        }
        return orjson.dumps(record)[:-1] + self._tail


MAX_TEXT_COPY_BYTES = 16 * 1024


def encode_dead_letter(
    error: DecodeError,
    *,
    value: bytes | None,
    key: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
    consumed_at: datetime,
    max_raw_bytes: int,
) -> bytes:
    """The raw bytes travel exactly (base64) up to `max_raw_bytes`, so a dead letter always fits
    in a Kafka record; only an `oversize` payload is cut, and the record says so."""
    size = None if value is None else len(value)
    if value is not None and len(value) > max_raw_bytes:
        value = value[:max_raw_bytes]
    text = None
    if value is not None and len(value) <= MAX_TEXT_COPY_BYTES:
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    record = DeadLetterEvent(
        error=ErrorInfo(code=error.code, message=error.message, details=list(error.details)),
        raw_value_base64=base64.b64encode(value).decode("ascii") if value is not None else None,
        raw_value_size=size,
        raw_value_truncated=size is not None and size > max_raw_bytes,
        raw_key_base64=base64.b64encode(key[:MAX_TEXT_COPY_BYTES]).decode("ascii")
        if key is not None
        else None,
        raw_value_text=text,
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
        source_timestamp_ms=timestamp_ms,
        consumed_at=consumed_at,
    )
    return record.model_dump_json().encode()
