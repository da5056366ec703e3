"""The bench runs a service from another revision's checkout (`bench.compare --measure drain`)."""

from pathlib import Path

import pytest

from bench import infra


def _other_consumer(tree: Path) -> None:
    (tree / "consumer").mkdir(parents=True)
    (tree / "consumer" / "__init__.py").write_text("")
    (tree / "consumer" / "__main__.py").write_text("print('consumer of the other tree')\n")


def _output(proc: infra.Proc) -> str:
    try:
        assert proc.popen.wait(60) == 0
    finally:
        proc.stop()
    return proc.log_path.read_text().strip()


def test_a_service_spawned_from_another_tree_runs_that_trees_package(tmp_path: Path) -> None:
    _other_consumer(tmp_path / "tree")
    proc = infra.spawn("probe", infra.service_argv(1), {}, tmp_path / "logs", tmp_path / "tree")
    assert _output(proc) == "consumer of the other tree"


def test_the_other_tree_comes_first_even_where_the_working_directory_is_off_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONSAFEPATH", "1")
    _other_consumer(tmp_path / "tree")
    proc = infra.spawn("probe", infra.service_argv(1), {}, tmp_path / "logs", tmp_path / "tree")
    assert _output(proc) == "consumer of the other tree"


def test_a_process_spawned_from_another_tree_runs_in_it(tmp_path: Path) -> None:
    proc = infra.spawn("probe", ["-c", "import os; print(os.getcwd())"], {}, tmp_path, tmp_path)
    assert _output(proc) == str(tmp_path)
