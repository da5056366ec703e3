# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""A normalised batch buffer's fields and fingerprints, in one C pass (`text.normalised_fields_batch`).

Replaces a regex over the buffer, a split, a strip and a decode per text, and two concatenations
per event: runs of spaces are collapsed and each field stripped as it is copied out, and each
event's fingerprint input (title, 0x1F, description) is written once, in place. The fingerprint
itself is still `hashlib.blake2b`, as `text.fingerprint_utf8` computes it; the property tests hold
the two paths equal (tests/unit/test_text_properties.py).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdlib cimport free, malloc

import hashlib

_blake2b = hashlib.blake2b


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
                fingerprint = _blake2b(parts, digest_size=16).hexdigest()
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
