"""Text normalisation: the one definition used by training, serving and dedup fingerprints."""

import hashlib
import re
from collections.abc import Sequence
from itertools import filterfalse
from typing import AnyStr, NamedTuple

from inference.fields import fields, fields_fingerprints, fingerprints, joined_utf8

FIELD_END = "\0"
"""Ends each text's tokens in a batch's buffer (`batch_utf8`): a token of its own. Normalisation
never emits it (a NUL in a text counts as whitespace), and str.split() does not split on it."""
_SEPARATOR = f" {FIELD_END} ".encode()
# A URL runs from "http(s)://" or "www." to the next whitespace (as str.split() sees it) or NUL.
# Two patterns with literal prefixes scan several times faster than one alternation, and with
# `*` tails two passes remove exactly what the alternation would.
_URL_STARTS = ((b"http", rb"https?://"), (b"www.", rb"www\."))
_URL_TAIL = rb"[^\s\x00\x1c-\x1f]*"
_URLS = [(prefix, re.compile(start + _URL_TAIL), b" ") for prefix, start in _URL_STARTS]
_STR_URLS = [(p.decode(), re.compile((s + _URL_TAIL).decode()), " ") for p, s in _URL_STARTS]
# Outside ASCII, any letter or digit of any script stays; punctuation (’ — “ …), symbols and
# invisible format characters become spaces like their ASCII counterparts.
_NON_ASCII_NON_ALNUM = re.compile(r"[^\x00-\x7f\w]+")
# Then the UTF-8 bytes map through a table, several times cheaper than a regex or str.translate:
# a-z and 0-9 stay, as do the bytes of multi-byte characters (never an ASCII byte); every other
# ASCII byte becomes a space, except that a batch's FIELD_END separators stay.
_TABLE = bytes(c if (97 <= c <= 122 or 48 <= c <= 57 or c >= 0x80) else 32 for c in range(256))
_BATCH_TABLE = bytes(c if c == ord(FIELD_END) else t for c, t in enumerate(_TABLE))


def _without_urls(text: AnyStr, urls: list[tuple[AnyStr, re.Pattern[AnyStr], AnyStr]]) -> AnyStr:
    for prefix, pattern, space in urls:
        if text.find(prefix) >= 0:  # `in` costs twice as much on bytes
            text = pattern.sub(space, text)
    return text


def _non_ascii_spaced(text: str) -> str:
    """The Unicode steps for a text outside ASCII (a few percent): lower-cased, URLs dropped
    before their non-ASCII characters could end them early, non-ASCII punctuation spaced."""
    return _NON_ASCII_NON_ALNUM.sub(" ", _without_urls(text.lower(), _STR_URLS))


def _ascii_steps(data: bytes, table: bytes) -> bytes:
    """The steps every text takes, done on its UTF-8 bytes: bytes.lower() and the table only touch
    ASCII and are several times cheaper than their str counterparts."""
    return _without_urls(data.lower(), _URLS).translate(table)


def normalise_text(text: str) -> str:
    """Lower-case, drop URLs and punctuation, collapse whitespace.

    Texts that differ only in case, spacing or punctuation normalise to the same string, which dedup
    relies on; the model sees the same tokens at training and at serving time.
    """
    text = text if text.isascii() else _non_ascii_spaced(text)
    return " ".join(_ascii_steps(text.encode(), _TABLE).decode().split())


# Function words carry no topic; dropping them helped in repeated CV (model card) and shortens the
# line fastText hashes. Only the model input drops them, never the dedup fingerprint.
STOPWORDS = frozenset(
    """a an the and or of to in on for with by from at as is are was were be been being this that
    these those it its we our you your they their i he she his her them us can will would should
    could may might has have had do does did not no but if then than so such into over about via
    using use used based new also which who what when where how all any each more most other some
    only very just""".split()
)
_is_stopword = STOPWORDS.__contains__


def content_words(normalised: str) -> list[str]:
    return list(filterfalse(_is_stopword, normalised.split()))


def batch_utf8(normalised: Sequence[str]) -> bytes:
    """Normalised texts as one UTF-8 buffer, each one's tokens followed by a FIELD_END token: a
    whole batch's fields for one split (`BatchPredictor.ids` splits it in C). Bytes, encoded text by
    text: one non-ASCII text would otherwise widen the whole joined str before its encoding."""
    if not normalised:
        return b""
    return _SEPARATOR.join([t.encode() for t in normalised]) + _SEPARATOR


def normalised_batch_utf8(texts: Sequence[str]) -> bytes:
    """batch_utf8([normalise_text(t) for t in texts]) up to whitespace: the ASCII steps run once
    over the whole batch rather than several times per text. Each step is per character or bounded
    by whitespace, so texts do not affect each other's result."""
    return _normalised_joined(list(texts))


def _normalised_joined(texts: list[str] | list[tuple[str, str, str | None]]) -> bytes:
    """`normalised_batch_utf8` of `texts`, or of each (title, description, url)'s two texts. The
    texts are joined in C (`inference.fields.joined_utf8`, which spaces a text's own NULs), the
    few outside ASCII first through the Unicode steps."""
    return _ascii_steps(joined_utf8(texts, _non_ascii_spaced), _BATCH_TABLE)


TITLE, DESCRIPTION = 0, 1
FULL_VIEW = (TITLE, TITLE, DESCRIPTION)
"""The model input: the title twice, the densest signal, then the description. Training lines
(`views_normalised`) and batched prediction both compose it from this."""


class Views(NamedTuple):
    """The model's views of one event, as token lists.

    `full` (`FULL_VIEW`) is the model input. Training also fits the title alone and the description
    alone (short texts exist); prediction blends the full view with the description view (see
    `inference.classifier`).
    """

    full: list[str]
    title: list[str]
    description: list[str]


def views_normalised(title: str, description: str) -> Views:
    """Views from normalised fields, stopwords dropped."""
    fields = content_words(title), content_words(description)
    return Views([word for i in FULL_VIEW for word in fields[i]], *fields)


def model_tokens(title: str, description: str) -> list[str]:
    """The tokens of the model input."""
    return views_normalised(normalise_text(title), normalise_text(description)).full


def fingerprint_utf8(title: bytes, description: bytes, url: str | None = None) -> str:
    parts = title + b"\x1f" + description
    if url:
        parts += b"\x1f" + url.strip().lower().rstrip("/").encode()
    return hashlib.blake2b(parts, digest_size=16).hexdigest()


def fingerprint_normalised(title: str, description: str, url: str | None = None) -> str:
    return fingerprint_utf8(title.encode(), description.encode(), url)


def normalised_fields(title: str, description: str, url: str | None = None) -> tuple[str, str, str]:
    """Both fields normalised, and their fingerprint: what dedup and the model take."""
    title, description = normalise_text(title), normalise_text(description)
    return title, description, fingerprint_normalised(title, description, url)


def normalised_batch(events: Sequence[tuple[str, str, str | None]]) -> tuple[bytes, list[str]]:
    """The fingerprints `normalised_fields_batch` gives, and the `normalised_batch_utf8` buffer its
    fields are cut from, not the fields themselves: the model reads its tokens from the buffer
    (`Classifier.predict_normalised_utf8`), and `normalised_pairs` cuts the fields from it should
    anything need them as str."""
    batch = _normalised_joined(list(events))
    return batch, fingerprints(batch, [url for _, _, url in events])


def normalised_pairs(batch: bytes, events: int) -> list[tuple[str, str]]:
    """Each event's normalised (title, description), cut from a `normalised_batch` buffer."""
    return fields(batch, events)


def normalised_fields_batch(
    events: Sequence[tuple[str, str, str | None]],
) -> list[tuple[str, str, str]]:
    """`normalised_fields` of each (title, description, url) of a batch, the whole batch normalised
    in one pass (`normalised_batch_utf8`) rather than several string operations per text, its
    fields cut out (spaces collapsed, as `normalise_text` leaves them) and fingerprinted
    (`fingerprint_utf8`) in one C pass (`inference.fields`)."""
    batch = _normalised_joined(list(events))
    return fields_fingerprints(batch, [url for _, _, url in events])


def fingerprint(title: str, description: str, url: str | None = None) -> str:
    """Content identity for dedup: case, spacing and punctuation do not change it."""
    return normalised_fields(title, description, url)[2]
