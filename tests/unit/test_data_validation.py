import pytest

from training.data import DataValidationError, parse

HEADER = "id,created_on,title,description,tag\n"
GOOD = "1,2020-01-01,BERT for QA,Question answering,natural-language-processing\n"
# Two valid rows per approved tag, appended after each case so its row numbers start at 1.
COVER = "".join(
    f"{100 + i},2020,Cover {i},Row {i},{tag}\n"
    for i, tag in enumerate(
        ["natural-language-processing", "computer-vision", "mlops", "other"] * 2
    )
)


def _problems(body: str) -> list[str]:
    with pytest.raises(DataValidationError) as info:
        parse((HEADER + body + COVER).encode())
    return info.value.problems


def test_valid_csv_parses_all_rows():
    data = parse((HEADER + GOOD + COVER).encode())
    assert [e.id for e in data.examples][:2] == ["1", "100"]
    assert len(data.examples) == 9
    assert len(data.sha256) == 64


def test_every_approved_tag_needs_two_rows():
    with pytest.raises(DataValidationError) as info:
        parse((HEADER + GOOD + "2,2020,YOLO,Detection,computer-vision\n").encode())
    assert info.value.problems == [
        "every approved tag needs at least 2 rows (the model must know all of them and the split "
        "is stratified); too few: {'natural-language-processing': 1, 'computer-vision': 1, "
        "'mlops': 0, 'other': 0}"
    ]


def test_missing_column_is_named():
    with pytest.raises(DataValidationError, match="missing columns \\['tag'\\]"):
        parse(b"id,created_on,title,description\n1,2020,t,d\n")


def test_unapproved_tag_names_tag_and_row():
    problems = _problems(GOOD + "2,2020,Robots,Arms,reinforcement-learning\n")
    assert problems == [
        "unapproved tag 'reinforcement-learning' in rows 2; approved: "
        "['natural-language-processing', 'computer-vision', 'mlops', 'other']"
    ]


def test_duplicate_id_names_both_rows():
    problems = _problems(GOOD + "1,2020,Other title,Other,mlops\n")
    assert problems == ["duplicate id '1' in rows 1 and 2"]


def test_duplicate_title_description_pair_names_both_rows():
    problems = _problems(GOOD + "2,2020,BERT for QA,Question answering,other\n")
    assert len(problems) == 1 and problems[0].startswith(
        "duplicate (title, description) in rows 1 and 2"
    )


def test_null_tag_names_row():
    assert _problems(GOOD + "2,2020,Title,Desc,\n") == ["null tag in rows 2"]


def test_null_title_names_row():
    assert _problems(GOOD + "2,2020,,Desc,mlops\n") == ["null title in rows 2"]


def test_every_problem_is_reported_at_once():
    problems = _problems("1,2020,,Desc,\n1,2020,T,D,bogus\n")
    assert len(problems) == 4


def test_empty_file_is_rejected():
    with pytest.raises(DataValidationError) as info:
        parse(HEADER.encode())
    assert info.value.problems == ["no rows"]


def test_multiline_description_in_quotes_is_one_row():
    data = parse((HEADER + '1,2020,T,"line one\nline two",other\n' + COVER).encode())
    assert data.examples[0].description == "line one\nline two"
