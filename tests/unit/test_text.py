from training.text import fingerprint, model_tokens, normalise_text, views_normalised


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
