"""The bench runs a service from another revision's checkout (`bench.compare --measure drain`)."""

from pathlib import Path

from bench import infra


def test_a_service_spawned_from_another_tree_runs_that_trees_package(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "consumer").mkdir(parents=True)
    (tree / "consumer" / "__init__.py").write_text("")
    (tree / "consumer" / "__main__.py").write_text("print('consumer of the other tree')\n")
    proc = infra.spawn("probe", infra.service_argv(1), {}, tmp_path / "logs", tree)
    assert proc.popen.wait(60) == 0
    assert proc.log_path.read_text().strip() == "consumer of the other tree"


def test_a_process_spawned_from_another_tree_imports_from_it_first(tmp_path: Path) -> None:
    (tmp_path / "codec_probe.py").write_text("WHERE = 'other tree'\n")
    argv = ["-c", "import codec_probe, os; print(codec_probe.WHERE, os.getcwd())"]
    proc = infra.spawn("probe", argv, {}, tmp_path / "logs", tmp_path)
    assert proc.popen.wait(60) == 0
    assert proc.log_path.read_text().split() == ["other", "tree", str(tmp_path)]
