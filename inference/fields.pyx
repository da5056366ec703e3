# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""A normalised batch buffer's fields and fingerprints, in one C pass (`text.normalised_fields_batch`).

Replaces a regex over the buffer, a split, a strip and a decode per text, and two concatenations
per event: runs of spaces are collapsed and each field stripped as it is copied out, and each
event's fingerprint input (title, 0x1F, description) is written once, in place. The fingerprint
itself is still `hashlib.blake2b`, as `text.fingerprint_utf8` computes it; the property tests hold
the two paths equal (tests/unit/test_text_properties.py). `joined_utf8` builds the batch buffer
the normalisation starts from.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdlib cimport free, malloc

import hashlib

# A fingerprint's hash starts as a copy of this one: copying a fresh state costs less than
# constructing one (its keyword arguments parsed and its parameter block set up every time).
_EMPTY_DIGEST = hashlib.blake2b(digest_size=16)


cdef Py_ssize_t _collapsed(const char* data, Py_ssize_t pos, Py_ssize_t size, char* out,
                           Py_ssize_t* written):
    """Copy the text at data[pos] up to its NUL into out, spaces collapsed and stripped; the
    bytes written go to written[0]; returns the position after the NUL (size + 1 if none)."""
    cdef Py_ssize_t k = 0
    cdef bint space = False
    cdef char c
    while pos < size:
        c = data[pos]
        pos += 1
        if c == 0:
            written[0] = k
            return pos
        if c == 32:
            space = k > 0
        else:
            if space:
                out[k] = 32
                k += 1
                space = False
            out[k] = c
            k += 1
    written[0] = k
    return size + 1


cdef list _cut(bytes batch, list urls, bint fields, bint fingerprints):
    """Per event of the buffer: (title, description, fingerprint), or only the fields, or only
    the fingerprint, as asked (the others are not built)."""
    cdef Py_ssize_t events = len(urls), size = PyBytes_GET_SIZE(batch), pos = 0, i
    cdef Py_ssize_t title_len = 0, description_len = 0
    cdef const char* data = PyBytes_AS_STRING(batch)
    cdef char* key = <char*>malloc(size + 1)
    if key == NULL:
        raise MemoryError()
    out = [None] * events
    try:
        for i in range(events):
            if pos > size:
                raise ValueError(f"{2 * events} texts expected in the batch, fewer found")
            pos = _collapsed(data, pos, size, key, &title_len)
            key[title_len] = 0x1F
            if pos > size:
                raise ValueError(f"{2 * events} texts expected in the batch, fewer found")
            pos = _collapsed(data, pos, size, key + title_len + 1, &description_len)
            if pos > size:
                raise ValueError(f"{2 * events} texts expected in the batch, fewer found")
            if fingerprints:
                parts = PyBytes_FromStringAndSize(key, title_len + 1 + description_len)
                url = urls[i]
                if url:
                    parts += b"\x1f" + url.strip().lower().rstrip("/").encode()
                digest = _EMPTY_DIGEST.copy()
                digest.update(parts)
                fingerprint = digest.hexdigest()
            if fields:
                title = PyUnicode_DecodeUTF8(key, title_len, NULL)
                description = PyUnicode_DecodeUTF8(key + title_len + 1, description_len, NULL)
                out[i] = (title, description, fingerprint) if fingerprints else (title, description)
            else:
                out[i] = fingerprint
    finally:
        free(key)
    return out


def fields_fingerprints(bytes batch, list urls) -> list:
    """Per event of a `normalised_batch_utf8` buffer of (title, description) texts, in order:
    (title, description, fingerprint) as `text.normalised_fields` gives them. `urls[i]` is event
    i's url (or None), fingerprinted as `text.fingerprint_utf8` does."""
    return _cut(batch, urls, True, True)


def fingerprints(bytes batch, list urls) -> list:
    """`fields_fingerprints`' fingerprints alone: no str is built for the fields."""
    return _cut(batch, urls, False, True)


def fields(bytes batch, Py_ssize_t events) -> list:
    """`fields_fingerprints`' (title, description) pairs alone: nothing is hashed."""
    return _cut(batch, [None] * events, True, False)


cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object)
    void* PyUnicode_DATA(object)
    Py_ssize_t PyUnicode_GET_LENGTH(object)
    bytes PyUnicode_AsUTF8String(object)


def joined_utf8(list texts, object prepare) -> bytes:
    """The buffer of a batch's texts for `text.normalised_batch_utf8`: each text's UTF-8 (a text
    outside ASCII first through `prepare`), its own NULs as spaces, followed by the separator
    " \\0 ". `texts` are str, or (title, description, ...) tuples whose two fields are taken."""
    cdef Py_ssize_t n = len(texts), k, size = 0, length, i, count
    cdef bint pairs = n > 0 and type(texts[0]) is tuple
    cdef list parts = []
    cdef const char* data
    cdef char* out
    count = 2 * n if pairs else n
    for k in range(count):
        text = texts[k // 2][k % 2] if pairs else texts[k]
        if not isinstance(text, str):
            raise TypeError(f"texts must be str, not {type(text).__name__}")
        if not PyUnicode_IS_ASCII(text):
            text = PyUnicode_AsUTF8String(prepare(text))
        parts.append(text)
        size += (PyUnicode_GET_LENGTH(text) if isinstance(text, str) else len(text)) + 3
    buffer = PyBytes_FromStringAndSize(NULL, size)
    out = PyBytes_AS_STRING(buffer)
    for part in parts:
        if isinstance(part, str):
            data = <const char*>PyUnicode_DATA(part)
            length = PyUnicode_GET_LENGTH(part)
        else:
            data = PyBytes_AS_STRING(part)
            length = PyBytes_GET_SIZE(part)
        for i in range(length):
            out[i] = 32 if data[i] == 0 else data[i]
        out[length] = 32
        out[length + 1] = 0
        out[length + 2] = 32
        out += length + 3
    return buffer
