import random

from inference.text import (
    FIELD_END,
    batch_utf8,
    fingerprint,
    model_tokens,
    normalise_text,
    normalised_batch_utf8,
    normalised_fields,
    normalised_fields_batch,
    views_normalised,
)
from inference.token_index import TokenIndex
from tests.support import synthetic
from tests.support.synthetic import ODD_TEXTS


def test_normalise_lowercases_and_strips_punctuation():
    assert normalise_text("Hello, World! (BERT-base)") == "hello world bert base"


def test_normalise_collapses_whitespace_and_newlines():
    assert normalise_text("  a\n\tb   c ") == "a b c"


def test_normalise_drops_urls():
    assert normalise_text("see https://example.com/x?y=1 now") == "see now"


def test_normalise_keeps_accented_letters_and_digits():
    assert normalise_text("Café GPT-4") == "café gpt 4"


def test_model_input_weights_the_title_and_splits_lines_into_tokens():
    tokens = model_tokens("Vision\nTransformer", "Patches\nas tokens.")
    assert tokens == "vision transformer vision transformer patches tokens".split()


def test_model_input_drops_stopwords_but_fingerprint_keeps_them():
    assert model_tokens("The model", "of the year") == ["model", "model", "year"]
    assert fingerprint("The model", "of the year") != fingerprint("model", "year")


def test_the_title_and_description_views_are_the_parts_of_the_full_view():
    views = views_normalised("object detection", "boxes in images")
    assert views.title == ["object", "detection"]
    assert views.description == ["boxes", "images"]
    assert views.full == views.title + views.title + views.description


def test_fingerprint_ignores_case_spacing_and_punctuation():
    assert fingerprint("Attention Is All You Need", "Transformers.") == fingerprint(
        "attention   is all you need!!", "TRANSFORMERS"
    )


def test_fingerprint_differs_for_different_content():
    assert fingerprint("a", "b") != fingerprint("a", "c")


def test_fingerprint_includes_url_when_given():
    assert fingerprint("a", "b", "https://x.org/1") != fingerprint("a", "b", "https://x.org/2")
    assert fingerprint("a", "b", "https://X.org/1/") == fingerprint("a", "b", "https://x.org/1")


def test_fingerprint_keeps_title_and_description_apart():
    assert fingerprint("a b", "c") != fingerprint("a", "b c")


def test_unicode_punctuation_normalises_like_ascii_punctuation():
    assert normalise_text("Don’t stop — “BERT”…\u200b") == normalise_text('Don\'t stop - "BERT"...')


def test_non_latin_letters_are_kept():
    assert normalise_text("Модель BERT") == "модель bert"


# Characters where a batch could differ from text-by-text normalisation: URLs, separators, NUL
# (the batch's own separator), case that depends on context (final sigma), non-ASCII punctuation,
# spaces and digits, combining marks.
_TRICKY = [
    *"aZ9 .,:/-_\t\n\0\x1c\x1e\x1fhtpsw",
    *["http://", "www.", "HTTPS://x", "Σ", "ς", "İ", "ǅ", "ß", "é", "—", "’", "\u200b"],
    *["\u00a0", "\x85", "٣", "Ⅻ", "ﬁ", "\u0301"],
]


def test_a_batch_tokenises_every_text_as_normalise_text_does():
    texts = [t for e in synthetic.examples() for t in (e.title, e.description)]
    texts += [t for pair in ODD_TEXTS for t in pair]
    rng = random.Random(0)
    texts += ["".join(rng.choices(_TRICKY, k=rng.randint(0, 12))) for _ in range(20_000)]
    expected = [t for text in texts for t in [*normalise_text(text).split(), FIELD_END]]
    assert normalised_batch_utf8(texts).decode().split() == expected
    assert batch_utf8([normalise_text(t) for t in texts]).decode().split() == expected
    # The model splits in C, on ASCII whitespace only: normalised text holds no other.
    ids, new = TokenIndex().lookup(normalised_batch_utf8(texts), -2)
    assert [new[-2 - i] for i in ids.tolist()] == expected


def test_a_batch_gives_every_event_its_normalised_fields_and_fingerprint():
    rng = random.Random(1)
    events = [(e.title, e.description, None) for e in synthetic.examples()]
    events += [(t, d, None) for t, d in ODD_TEXTS]

    def tricky() -> str:
        return "".join(rng.choices(_TRICKY, k=rng.randint(0, 12)))

    events += [(tricky(), tricky(), url) for url in [None, "https://Example.org/Page/", ""] * 2_000]
    assert normalised_fields_batch(events) == [normalised_fields(*e) for e in events]


def test_texts_in_a_batch_do_not_affect_each_other():
    texts = ["see http://x.org", "ΑΣ", "a\0b", "www.example.com/page next", "É"]
    together = normalised_batch_utf8(texts)
    assert together == b"".join(normalised_batch_utf8([text]) for text in texts)


def test_a_nul_in_a_text_counts_as_whitespace():
    assert normalise_text("graph\0neural http://x.org\0nets") == "graph neural nets"


def test_a_url_runs_to_whitespace_through_non_ascii_punctuation():
    assert normalise_text("see https://en.wikipedia.org/wiki/Michaelis–Menten now") == "see now"
