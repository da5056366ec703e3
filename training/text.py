"""Text normalisation: the one definition used by training, serving and dedup fingerprints."""

import hashlib
import re

_URL = re.compile(r"https?://\S+|www\.\S+")
# Everything below U+0250 that is not a-z, 0-9 or an accented Latin letter becomes a space;
# str.translate is far cheaper than a regex on the per-event path.
_TABLE = {
    c: " "
    for c in range(0x250)
    if not (ord("a") <= c <= ord("z") or ord("0") <= c <= ord("9") or 0xC0 <= c < 0x250)
}


def normalise_text(text: str) -> str:
    """Lower-case, drop URLs and punctuation, collapse whitespace.

    Texts that differ only in case, spacing or punctuation normalise to the same string, which dedup
    relies on; the model sees the same tokens at training and at serving time.
    """
    text = text.lower()
    if "http" in text or "www." in text:
        text = _URL.sub(" ", text)
    return " ".join(text.translate(_TABLE).split())


def model_input_normalised(title: str, description: str) -> str:
    """Model input from already-normalised fields; the title counts twice (it is the densest signal)."""
    return f"{title} {title} {description}"


def model_input(title: str, description: str) -> str:
    """The single line fastText is trained and queried on."""
    return model_input_normalised(normalise_text(title), normalise_text(description))


def fingerprint_normalised(title: str, description: str, url: str | None = None) -> str:
    parts = f"{title}\x1f{description}"
    if url:
        parts += "\x1f" + url.strip().lower().rstrip("/")
    return hashlib.blake2b(parts.encode(), digest_size=16).hexdigest()


def fingerprint(title: str, description: str, url: str | None = None) -> str:
    """Content identity for dedup: case, spacing and punctuation do not change it."""
    return fingerprint_normalised(normalise_text(title), normalise_text(description), url)
