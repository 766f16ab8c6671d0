"""No fixture shadows another of the same name: a conftest's fixture redefined in a test module or a nested
conftest below it would make the same name mean two things, depending on where a test stands."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def _is_fixture(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return (isinstance(target, ast.Attribute) and target.attr == "fixture") or (
        isinstance(target, ast.Name) and target.id == "fixture"
    )


def _name_of(function: ast.FunctionDef | ast.AsyncFunctionDef, decorator: ast.expr) -> str:
    """The fixture's name: its ``name=`` if it has one, else the function's."""
    given = [keyword.value for keyword in getattr(decorator, "keywords", []) if keyword.arg == "name"]
    return given[0].value if given and isinstance(given[0], ast.Constant) else function.name


def fixtures_in(path: Path) -> set[str]:
    """The names of the fixtures ``path`` defines (at any depth: in classes too)."""
    return {
        _name_of(node, decorator)
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for decorator in node.decorator_list
        if _is_fixture(decorator)
    }


def plugin_files(root: Path) -> list[Path]:
    """The files pytest collects fixtures from: conftests and test modules."""
    return sorted(path for path in root.rglob("*.py") if path.name == "conftest.py" or path.name.startswith("test_"))


def shadowed(root: Path) -> list[str]:
    """``conftest: name also in other`` for every fixture a file at or below a conftest's folder defines again."""
    defined = {path: fixtures_in(path) for path in plugin_files(root)}
    return [
        f"{conftest.relative_to(root)}: {name} also in {other.relative_to(root)}"
        for conftest, names in defined.items()
        if conftest.name == "conftest.py"
        for other, others in defined.items()
        if other != conftest and other.is_relative_to(conftest.parent)
        for name in sorted(names & others)
    ]


def test_no_fixture_shadows_one_of_a_conftest_above_it() -> None:
    assert shadowed(TESTS) == []


def test_a_redefinition_below_a_conftest_is_found(tmp_path: Path) -> None:
    (tmp_path / "deep").mkdir()
    (tmp_path / "conftest.py").write_text(
        "import pytest\n@pytest.fixture\ndef redis(): ...\n@pytest.fixture(scope='session')\ndef sim(): ...\n"
    )
    (tmp_path / "deep" / "conftest.py").write_text("import pytest\n@pytest.fixture(name='sim')\ndef other(): ...\n")
    (tmp_path / "deep" / "test_x.py").write_text(
        "from pytest import fixture\nclass TestX:\n    @fixture\n    async def redis(self): ...\n"
    )
    (tmp_path / "test_y.py").write_text("import pytest\n@pytest.fixture\ndef unrelated(): ...\n")
    assert shadowed(tmp_path) == [
        "conftest.py: sim also in deep/conftest.py",
        "conftest.py: redis also in deep/test_x.py",
    ]
