# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# distutils: language = c++
"""Token -> table id for a whole batch's text in one pass over its UTF-8 bytes.

Splitting a batch's text into Python strings and looking each up in a dict builds an object per
token; here the text's buffer is scanned in place, each token looked up in an open-addressing table whose keys live in one byte arena, and
only tokens never seen before become Python strings.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport uint64_t
from libc.string cimport memcmp
from libcpp.string cimport string
from libcpp.vector cimport vector

import os

import numpy as np


cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object, Py_ssize_t*) except NULL


cdef struct Entry:
    uint64_t hash
    Py_ssize_t offset  # of the token's bytes in the arena
    Py_ssize_t length
    Py_ssize_t id


# What str.split() takes for whitespace among ASCII characters; a table keeps the scan branch-light.
cdef bint _SPACE[256]
for _c in range(256):
    _SPACE[_c] = _c == 32 or 9 <= _c <= 13 or 28 <= _c <= 31

cdef uint64_t _FNV_PRIME = 1099511628211ULL
cdef Py_ssize_t _EMPTY = -1
# Tokens come from upstream text: a per-process random start, as Python's own str hash has, keeps
# anyone from precomputing tokens that share a slot chain (hash flooding).
cdef uint64_t _SEED = int.from_bytes(os.urandom(8), "little")


cdef inline uint64_t _hash(const unsigned char* data, Py_ssize_t length) noexcept nogil:
    """FNV-1a from a secret start, then splitmix64's finaliser (every input bit reaches the low
    bits that index the table)."""
    cdef uint64_t h = 14695981039346656037ULL ^ _SEED
    cdef Py_ssize_t i
    for i in range(length):
        h = (h ^ data[i]) * _FNV_PRIME
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL
    return h ^ (h >> 31)


@cython.final
cdef class TokenIndex:
    """A map from tokens (str without whitespace) to ids, looked up a whole text at a time.

    Entries keep their insertion order, as a dict's do, so `truncate` can keep the first ones.
    """

    cdef string _arena
    cdef vector[Entry] _entries
    cdef vector[Py_ssize_t] _slots  # entry index or _EMPTY; size a power of two, at most half full
    cdef uint64_t _mask

    def __cinit__(self):
        self._slots.assign(1024, _EMPTY)
        self._mask = 1023

    def __len__(self) -> int:
        return self._entries.size()

    cdef inline Py_ssize_t _slot(
        self, const unsigned char* data, Py_ssize_t length, uint64_t h
    ) noexcept:
        """The slot holding this token, or the empty slot where it would go."""
        cdef uint64_t j = h & self._mask
        cdef Py_ssize_t e
        cdef const char* arena = self._arena.data()
        while True:
            e = self._slots[j]
            if e == _EMPTY:
                return j
            if (self._entries[e].hash == h and self._entries[e].length == length
                    and memcmp(arena + self._entries[e].offset, data, length) == 0):
                return j
            j = (j + 1) & self._mask

    cdef void _rehash(self, Py_ssize_t size):
        cdef Py_ssize_t e
        cdef uint64_t j
        self._slots.assign(size, _EMPTY)
        self._mask = size - 1
        for e in range(<Py_ssize_t>self._entries.size()):
            j = self._entries[e].hash & self._mask
            while self._slots[j] != _EMPTY:
                j = (j + 1) & self._mask
            self._slots[j] = e

    cdef void _set(
        self, const unsigned char* data, Py_ssize_t length, uint64_t h, Py_ssize_t token_id
    ) except *:
        """Give the token `token_id`: a token already held keeps its place, takes the id."""
        cdef Py_ssize_t j = self._slot(data, length, h)
        cdef Entry entry
        if self._slots[j] != _EMPTY:
            self._entries[self._slots[j]].id = token_id
            return
        entry.hash, entry.offset, entry.length = h, self._arena.size(), length
        entry.id = token_id
        self._arena.append(<const char*>data, length)
        self._slots[j] = self._entries.size()
        self._entries.push_back(entry)
        if 2 * self._entries.size() > self._slots.size():
            self._rehash(2 * self._slots.size())

    def get(self, token, default=None):
        cdef Py_ssize_t length
        cdef const unsigned char* data = <const unsigned char*>PyUnicode_AsUTF8AndSize(
            token, &length
        )
        cdef Py_ssize_t e = self._slots[self._slot(data, length, _hash(data, length))]
        return default if e == _EMPTY else self._entries[e].id

    def __contains__(self, token) -> bool:
        return self.get(token) is not None

    def update(self, pairs) -> None:
        """Set each (token, id) of `pairs`; a token already held keeps its place, takes the id."""
        cdef Py_ssize_t length
        cdef const unsigned char* data
        for token, token_id in pairs:
            data = <const unsigned char*>PyUnicode_AsUTF8AndSize(token, &length)
            self._set(data, length, _hash(data, length), token_id)

    def truncate(self, Py_ssize_t entries) -> None:
        """Keep the first `entries` entries only."""
        if entries < 0:
            raise ValueError(f"cannot keep {entries} entries")
        if entries >= <Py_ssize_t>self._entries.size():
            return
        self._arena.resize(self._entries[entries].offset)
        self._entries.resize(entries)
        self._rehash(self._slots.size())

    def lookup(self, text, Py_ssize_t missing):
        """Ids of the tokens of `text` (str, or bytes in UTF-8; split where str.split() splits
        ASCII text), and the tokens not held, each once, in order of first appearance (as str):
        the k-th of those reads `missing - k`."""
        cdef Py_ssize_t size, i = 0, start, k = 0, e, n
        cdef const unsigned char* data
        if isinstance(text, bytes):
            data, size = <const unsigned char*>PyBytes_AS_STRING(text), PyBytes_GET_SIZE(text)
        else:
            data = <const unsigned char*>PyUnicode_AsUTF8AndSize(text, &size)
        cdef uint64_t h
        ids = np.empty(size // 2 + 1, dtype=np.intp)  # room for the most tokens a text can hold
        cdef Py_ssize_t[::1] out = ids
        cdef TokenIndex fresh = None  # this text's unheld tokens
        new = []
        while True:
            while i < size and _SPACE[data[i]]:
                i += 1
            if i >= size:
                break
            start = i
            while i < size and not _SPACE[data[i]]:
                i += 1
            h = _hash(data + start, i - start)
            e = self._slots[self._slot(data + start, i - start, h)]
            if e != _EMPTY:
                out[k] = self._entries[e].id
            else:
                if fresh is None:
                    fresh = TokenIndex()
                e = fresh._slots[fresh._slot(data + start, i - start, h)]
                if e == _EMPTY:
                    n = len(new)
                    new.append(PyUnicode_DecodeUTF8(<const char*>data + start, i - start, NULL))
                    fresh._set(data + start, i - start, h, n)
                    out[k] = missing - n
                else:
                    out[k] = missing - fresh._entries[e].id
            k += 1
        return ids[:k], new
