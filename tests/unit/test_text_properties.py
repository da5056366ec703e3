"""Properties of text normalisation, over arbitrary Unicode and runs of tricky pieces."""

from hypothesis import given
from hypothesis import strategies as st

from inference.fields import joined_utf8
from inference.text import (
    normalise_text,
    normalised_batch,
    normalised_fields,
    normalised_fields_batch,
    normalised_pairs,
)
from tests.support.strategies import texts


@given(texts)
def test_normalising_twice_changes_nothing(text: str):
    once = normalise_text(text)
    assert normalise_text(once) == once


@given(texts)
def test_lower_casing_first_changes_nothing(text: str):
    assert normalise_text(text.lower()) == normalise_text(text)


@given(st.text(st.characters(max_codepoint=0x7F)))
def test_ascii_text_normalises_the_same_in_any_case(text: str):
    """Only for ASCII: Unicode upper-casing is not undone by lower-casing ("ß" → "SS" → "ss")."""
    assert normalise_text(text.upper()) == normalise_text(text.lower()) == normalise_text(text)


@given(texts)
def test_normalised_text_is_lower_case_letters_and_digits_between_single_spaces(text: str):
    normalised = normalise_text(text)
    tokens = normalised.split(" ")
    assert normalised == "" or all(tokens)
    assert all(token.isalnum() and token == token.lower() for token in tokens if token)


@given(st.lists(st.tuples(texts, texts, st.none() | st.text(max_size=30)), max_size=8))
def test_a_batch_gives_each_event_what_normalising_it_alone_gives(events):
    assert normalised_fields_batch(events) == [normalised_fields(*event) for event in events]


@given(st.lists(st.tuples(texts, texts, st.none() | st.text(max_size=30)), max_size=8))
def test_a_batchs_buffer_holds_the_fields_its_fingerprints_are_of(events):
    buffer, fingerprints = normalised_batch(events)
    alone = [normalised_fields(*event) for event in events]
    assert fingerprints == [fingerprint for _, _, fingerprint in alone]
    assert normalised_pairs(buffer, len(events)) == [(t, d) for t, d, _ in alone]


@given(st.lists(st.tuples(texts, texts, st.none()), max_size=6))
def test_a_batchs_texts_are_joined_as_their_utf8_each_own_nul_a_space(events):
    def prepare(text: str) -> str:
        return text.upper()

    flat = [text for title, description, _ in events for text in (title, description)]
    expected = b"".join(
        (t if t.isascii() else prepare(t)).replace("\0", " ").encode() + b" \0 " for t in flat
    )
    assert joined_utf8(flat, prepare) == expected
    assert joined_utf8(events, prepare) == expected
