from training.text import fingerprint, model_input, normalise_text


def test_normalise_lowercases_and_strips_punctuation():
    assert normalise_text("Hello, World! (BERT-base)") == "hello world bert base"


def test_normalise_collapses_whitespace_and_newlines():
    assert normalise_text("  a\n\tb   c ") == "a b c"


def test_normalise_drops_urls():
    assert normalise_text("see https://example.com/x?y=1 now") == "see now"


def test_normalise_keeps_accented_letters_and_digits():
    assert normalise_text("Café GPT-4") == "café gpt 4"


def test_model_input_is_a_single_line_with_title_weighted():
    text = model_input("Vision\nTransformer", "Patches\nas tokens.")
    assert "\n" not in text
    assert text == "vision transformer vision transformer patches tokens"


def test_model_input_drops_stopwords_but_fingerprint_keeps_them():
    assert model_input("The model", "of the year") == "model model year"
    assert fingerprint("The model", "of the year") != fingerprint("model", "year")


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
