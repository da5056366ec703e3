# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""A batch's classified records spliced from two orjson serialisations, in one C pass.

Serialising each record alone cost a dict, an orjson call, two slices and a concatenation per
event, in Python. Here the batch's events and its answers are each serialised by orjson in one
call (`consumer.codec.ClassifiedEncoder`), and each record is copied together from its event's
object, its answer's parts and the batch's shared tail: every byte of JSON is still orjson's, in
the order the record's model has its fields, so the bytes are those of the record serialised
alone (the property tests hold the two equal). The answers come as the model keeps them, rows of
probabilities with their labels (`inference.predictor.Answers`): no tuple or dict per event.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_AsUTF8String
from libc.stdlib cimport free, malloc
from libc.string cimport memchr, memcpy

cdef bytes _TAG = b',"tag":'
cdef bytes _CONFIDENCE = b',"confidence":'
cdef bytes _PROBABILITIES = b',"probabilities":'
cdef bytes _TAGGED = b',"route":"tagged"'
cdef bytes _REVIEW = b',"route":"review"'


cdef Py_ssize_t _string_end(const char* data, Py_ssize_t pos, Py_ssize_t size) except -1:
    """The position after the JSON string starting at data[pos] (its opening quote): the first
    quote after it not escaped by an odd run of backslashes."""
    cdef const char* quote
    cdef Py_ssize_t q, k
    pos += 1
    while pos < size:
        quote = <const char*>memchr(data + pos, 34, size - pos)
        if quote == NULL:
            break
        q = quote - data
        k = q
        while k > pos and data[k - 1] == 92:
            k -= 1
        if (q - k) % 2 == 0:
            return q + 1
        pos = q + 1
    raise ValueError("unterminated JSON string")


cdef Py_ssize_t _value_end(const char* data, Py_ssize_t pos, Py_ssize_t size) except -1:
    """The position after the compact JSON value starting at data[pos]."""
    cdef Py_ssize_t depth = 0
    cdef char c
    if pos >= size:
        raise ValueError("a JSON value expected, none found")
    c = data[pos]
    if c == 34:
        return _string_end(data, pos, size)
    if c != 123 and c != 91:  # a number, true, false or null: up to the next delimiter
        while pos < size and data[pos] != 44 and data[pos] != 93 and data[pos] != 125:
            pos += 1
        return pos
    while pos < size:
        c = data[pos]
        if c == 34:
            pos = _string_end(data, pos, size)
            continue
        if c == 123 or c == 91:
            depth += 1
        elif c == 125 or c == 93:
            depth -= 1
            if depth == 0:
                return pos + 1
        pos += 1
    raise ValueError("unterminated JSON object or array")


cdef inline Py_ssize_t _expect(const char* data, Py_ssize_t pos, Py_ssize_t size, char c) except -1:
    if pos >= size or data[pos] != c:
        raise ValueError(f"{chr(c)!r} expected at {pos} of the batch's JSON")
    return pos + 1


cdef inline char* _put(char* out, const char* data, Py_ssize_t n):
    memcpy(out, data, n)
    return out + n


def classified_outputs(
    bytes events_json,
    bytes rows_json,
    const float[:, ::1] probabilities,
    list top,
    tuple labels,
    list labels_json,
    list ids,
    double threshold,
    bytes tail,
    tuple tagged_topics,
    object make,
) -> list:
    """Per event, `make((topic, key, value, route, tag))`: its classified record `value` and where
    it goes, the tagged topic when its confidence reaches `threshold`, else the review topic. An
    event's answer is its row of `probabilities`: its tag the label of its `top` column, its
    confidence that column's probability, its probabilities an object of every label.

    :param events_json: orjson's array of the events' field dicts (the events' own order).
    :param rows_json: orjson's array of the rows, each an array of the labels' probabilities
        (written as float64, the float each is in an answer).
    :param probabilities: the rows themselves: the route is decided on them.
    :param top: each row's tag column (`inference.predictor.Answers.top`).
    :param labels: each column's label.
    :param labels_json: each label as orjson writes it (a JSON string).
    :param ids: each event's id as str: its key, UTF-8.
    :param tail: the batch's shared fields closing the object, `,"threshold":...}`.
    :param tagged_topics: (tagged topic, review topic).
    :param make: builds an output from its 5-tuple.
    """
    cdef const char* events = PyBytes_AS_STRING(events_json)
    cdef const char* rows = PyBytes_AS_STRING(rows_json)
    cdef Py_ssize_t events_size = PyBytes_GET_SIZE(events_json)
    cdef Py_ssize_t rows_size = PyBytes_GET_SIZE(rows_json)
    cdef Py_ssize_t n = probabilities.shape[0], width = probabilities.shape[1]
    cdef Py_ssize_t i, j, best, e = 1, r = 1, e_end, size, labels_size = 0
    cdef Py_ssize_t* starts
    cdef Py_ssize_t* ends
    cdef bint is_tagged
    cdef bytes route_field, value, label
    cdef char* out
    if len(ids) != n or len(top) != n or len(labels) != width or len(labels_json) != width:
        raise ValueError(
            f"{n} rows of {width}: {len(ids)} ids, {len(top)} tags, {len(labels)} labels given"
        )
    for label in labels_json:
        labels_size += PyBytes_GET_SIZE(label)
    tagged_topic, review_topic = tagged_topics
    outputs = [None] * n
    starts = <Py_ssize_t*>malloc((width + 1) * sizeof(Py_ssize_t))
    ends = <Py_ssize_t*>malloc((width + 1) * sizeof(Py_ssize_t))
    if starts == NULL or ends == NULL:
        free(starts)
        free(ends)
        raise MemoryError()
    try:
        _expect(events, 0, events_size, 91)
        _expect(rows, 0, rows_size, 91)
        for i in range(n):
            if i:
                e = _expect(events, e, events_size, 44)
                r = _expect(rows, r, rows_size, 44)
            if e >= events_size or events[e] != 123:
                raise ValueError(f"event {i} is not a JSON object")
            e_end = _value_end(events, e, events_size)
            r = _expect(rows, r, rows_size, 91)
            best = top[i]
            if not 0 <= best < width:
                raise ValueError(f"row {i}'s tag column {best} is not one of its {width}")
            for j in range(width):
                if j:
                    r = _expect(rows, r, rows_size, 44)
                starts[j] = r
                r = _value_end(rows, r, rows_size)
                if r == starts[j] or rows[starts[j]] == 91 or rows[starts[j]] == 123:
                    raise ValueError(f"row {i} does not hold {width} numbers")
                ends[j] = r
            r = _expect(rows, r, rows_size, 93)
            is_tagged = <double>probabilities[i, best] >= threshold
            route_field = _TAGGED if is_tagged else _REVIEW
            size = (e_end - 1 - e) + len(_TAG) + PyBytes_GET_SIZE(labels_json[best])
            size += len(_CONFIDENCE) + (ends[best] - starts[best]) + len(_PROBABILITIES) + 2
            size += labels_size + width * 2 - 1  # a colon each, commas between
            for j in range(width):
                size += ends[j] - starts[j]
            size += len(route_field) + PyBytes_GET_SIZE(tail)
            value = PyBytes_FromStringAndSize(NULL, size)
            out = PyBytes_AS_STRING(value)
            out = _put(out, events + e, e_end - 1 - e)  # the event's fields, without its "}"
            out = _put(out, PyBytes_AS_STRING(_TAG), len(_TAG))
            label = labels_json[best]
            out = _put(out, PyBytes_AS_STRING(label), PyBytes_GET_SIZE(label))
            out = _put(out, PyBytes_AS_STRING(_CONFIDENCE), len(_CONFIDENCE))
            out = _put(out, rows + starts[best], ends[best] - starts[best])
            out = _put(out, PyBytes_AS_STRING(_PROBABILITIES), len(_PROBABILITIES))
            out[0] = 123
            out += 1
            for j in range(width):
                if j:
                    out[0] = 44
                    out += 1
                label = labels_json[j]
                out = _put(out, PyBytes_AS_STRING(label), PyBytes_GET_SIZE(label))
                out[0] = 58
                out += 1
                out = _put(out, rows + starts[j], ends[j] - starts[j])
            out[0] = 125
            out += 1
            out = _put(out, PyBytes_AS_STRING(route_field), len(route_field))
            _put(out, PyBytes_AS_STRING(tail), PyBytes_GET_SIZE(tail))
            e = e_end
            topic = tagged_topic if is_tagged else review_topic
            route = "tagged" if is_tagged else "review"
            outputs[i] = make((topic, PyUnicode_AsUTF8String(ids[i]), value, route, labels[best]))
        _expect(events, e, events_size, 93)
        _expect(rows, r, rows_size, 93)
        if e + 1 != events_size or r + 1 != rows_size:
            raise ValueError("more events or rows in the batch's JSON than rows given")
    finally:
        free(starts)
        free(ends)
    return outputs
