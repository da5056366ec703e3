"""The C token index splits and looks up a text as str.split() and a dict would."""

import random

import pytest

from inference.token_index import TokenIndex

MISSING = -2


def tokens_of(index: TokenIndex, text: str) -> list[str]:
    """The tokens `lookup` saw, read back from the ids it gave (an empty index holds none)."""
    ids, new = index.lookup(text, MISSING)
    return [new[MISSING - i] for i in ids.tolist()]


def test_a_text_splits_where_str_split_splits_ascii_text():
    text = " \t graph\nneural\x0bnets\x1cand\x1fmore\r\x0c \0 ünïcode 日本語  "
    assert tokens_of(TokenIndex(), text) == text.split()


def test_random_texts_split_as_str_split_does():
    rng = random.Random(0)
    alphabet = [*"ab9 \t\n\0\x1c\x1f", "é", "日", "ß"]
    for _ in range(5_000):
        text = "".join(rng.choices(alphabet, k=rng.randint(0, 20)))
        assert tokens_of(TokenIndex(), text) == text.split()


def test_held_tokens_get_their_ids():
    index = TokenIndex()
    index.update([("graph", 7), ("nets", 3), ("日本", 11)])
    ids, new = index.lookup("nets graph 日本 graph", MISSING)
    assert ids.tolist() == [3, 7, 11, 7]
    assert new == []


def test_unheld_tokens_come_back_once_each_in_order_of_first_appearance():
    index = TokenIndex()
    index.update([("held", 0)])
    ids, new = index.lookup("zeta held alpha zeta alpha", MISSING)
    assert new == ["zeta", "alpha"]
    assert ids.tolist() == [MISSING, 0, MISSING - 1, MISSING, MISSING - 1]


def test_an_empty_text_has_no_tokens():
    ids, new = TokenIndex().lookup("  \n", MISSING)
    assert ids.tolist() == [] and new == []


def test_updating_a_held_token_changes_its_id_not_its_place():
    index = TokenIndex()
    index.update([("a", 0), ("b", 1)])
    index.update([("a", -1), ("c", 2)])
    assert (len(index), index.get("a"), index.get("c")) == (3, -1, 2)
    index.truncate(1)
    assert (len(index), index.get("a"), "b" in index) == (1, -1, False)


def test_truncate_keeps_the_first_entries_and_forgets_the_rest():
    index = TokenIndex()
    index.update((f"t{i}", i) for i in range(100))
    index.truncate(40)
    assert len(index) == 40
    assert [index.get(f"t{i}") for i in (0, 39, 40, 99)] == [0, 39, None, None]
    index.update([("t99", 5)])
    assert index.lookup("t99 t39", MISSING)[0].tolist() == [5, 39]


def test_a_large_index_finds_every_token_after_growing():
    words = [f"w{i}é" if i % 3 else f"w{i}" for i in range(50_000)]
    index = TokenIndex()
    index.update(zip(words, range(len(words)), strict=True))
    ids, new = index.lookup(" ".join(reversed(words)), MISSING)
    assert ids.tolist() == list(reversed(range(len(words))))
    assert new == []
    assert index.get("absent", -9) == -9


def test_utf8_bytes_look_up_as_their_text_does():
    index = TokenIndex()
    index.update([("café", 1)])
    text = "café naïve café"
    ids, new = index.lookup(text.encode(), MISSING)
    assert (ids.tolist(), new) == (index.lookup(text, MISSING)[0].tolist(), ["naïve"])


def test_truncating_to_a_negative_size_is_refused():
    index = TokenIndex()
    index.update([("a", 0)])
    with pytest.raises(ValueError, match="-1"):
        index.truncate(-1)
    assert len(index) == 1


def test_thousands_of_unseen_tokens_in_one_text_each_come_back_once():
    words = [f"new{i}" for i in range(5_000)]
    ids, new = TokenIndex().lookup(" ".join(words + words[::-1]), MISSING)
    assert new == words
    assert [new[MISSING - i] for i in ids.tolist()] == words + words[::-1]


def test_str_subclasses_are_tokens_too():
    class Token(str):
        pass

    index = TokenIndex()
    index.update([(Token("vision"), 4)])
    assert index.lookup(Token("vision other"), MISSING)[0].tolist() == [4, MISSING]


def test_a_text_that_is_neither_str_nor_bytes_is_refused():
    with pytest.raises(TypeError):
        TokenIndex().lookup(bytearray(b"a b"), MISSING)
