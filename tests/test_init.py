"""`pipewatch init`: scaffolds pipewatch.yml, a sample rule file and the packages.yml entry, never overwriting."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from pipewatch.cli import main
from pipewatch.commands.init import PACKAGE_GIT_URL, _insert_entry, scaffold
from pipewatch.config import load_config
from pipewatch.errors import ConfigError
from pipewatch.rules import load_rules, parse_rules
from pipewatch.rules.spec import CHECK_TYPES
from tests.conftest import REPO, run_dbt

MACROS = REPO / "macros"


def dbt_project(root: Path) -> Path:
    """A minimal dbt project with one model."""
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text(
        "name: shop\nversion: '1.0'\nconfig-version: 2\nprofile: shop\n", encoding="utf-8"
    )
    (root / "models" / "orders.sql").write_text("select 1 as order_id\n", encoding="utf-8")
    return root


def init(project: Path, *args: str) -> tuple[int, str]:
    """Run the click command as the CLI would; exit code and combined output."""
    result = CliRunner().invoke(main, ["init", "--project-dir", str(project), *args])
    return result.exit_code, result.output


def test_scaffolds_a_fresh_project(tmp_path: Path) -> None:
    """All three files appear, and each is what pipewatch and dbt read."""
    project = dbt_project(tmp_path / "shop")
    code, out = init(project)
    assert code == 0, out
    assert "created pipewatch.yml" in out and "created rules/pipewatch.yml" in out
    assert "created packages.yml with the pipewatch dbt package" in out
    config = load_config(project)
    assert config.rules_path == "rules" and config.history_path == ".pipewatch/history.duckdb"
    assert load_rules(project / "rules").tables == []  # the sample is valid and checks nothing yet
    packages = yaml.safe_load((project / "packages.yml").read_text(encoding="utf-8"))["packages"]
    assert len(packages) == 1 and (project / packages[0]["local"]).resolve() == MACROS.resolve()


def test_the_sample_rule_file_shows_every_check_type_and_parses_once_uncommented(tmp_path: Path) -> None:
    """Uncommenting the example (as the file says) gives a valid rule file using every check type."""
    project = dbt_project(tmp_path / "shop")
    scaffold(project)
    text = (project / "rules" / "pipewatch.yml").read_text(encoding="utf-8")
    for kind in CHECK_TYPES:
        assert re.search(rf"^#\s+# {kind}: ", text, re.MULTILINE), f"no comment explaining {kind}"
    example = re.sub(r"^#(  )?", "", text.split("tables: []", 1)[1], flags=re.MULTILINE)
    uncommented = text.split("tables: []", 1)[0] + "tables:" + example
    nodes = {
        f"model.shop.{name}": SimpleNamespace(
            unique_id=f"model.shop.{name}",
            resource_type="model",
            name=name,
            database="db",
            schema="main",
            alias=name,
        )
        for name in ("orders", "customers")
    }
    rules = parse_rules(uncommented, nodes=nodes)  # type: ignore[arg-type]
    assert {c.type for c in rules.checks} == set(CHECK_TYPES)
    assert rules.tables[0].target.relation == "db.main.orders"  # the project's own model is named


def test_appends_to_an_existing_packages_file_keeping_it(tmp_path: Path) -> None:
    """Comments, other packages and other keys stay; the entry goes last in the list."""
    project = dbt_project(tmp_path / "shop")
    original = (
        "# our packages\n"
        "packages:\n"
        "    - local: ../shared_macros   # team macros\n"
        "    - git: https://example.invalid/utils.git\n"
        "      revision: 1.0.0\n"
        "\n"
        "# trailing comment\n"
    )
    (project / "packages.yml").write_text(original, encoding="utf-8")
    code, out = init(project, "--package", "git")
    assert code == 0, out
    assert "added the pipewatch dbt package to packages.yml" in out
    text = (project / "packages.yml").read_text(encoding="utf-8")
    assert "# our packages" in text and "# team macros" in text and "# trailing comment" in text
    assert yaml.safe_load(text)["packages"] == [
        {"local": "../shared_macros"},
        {"git": "https://example.invalid/utils.git", "revision": "1.0.0"},
        {"git": PACKAGE_GIT_URL, "subdirectory": "macros", "revision": "v0.1.0"},
    ]
    assert "    - git: " + PACKAGE_GIT_URL in text  # the file's own indentation


def test_leaves_a_packages_file_that_already_has_pipewatch(tmp_path: Path) -> None:
    """A second project-level init (after moving pipewatch.yml aside) does not add a duplicate."""
    project = dbt_project(tmp_path / "shop")
    original = "packages:\n  - local: ../pipewatch/macros\n"
    (project / "packages.yml").write_text(original, encoding="utf-8")
    code, out = init(project)
    assert code == 0, out
    assert "already lists the pipewatch dbt package" in out
    assert (project / "packages.yml").read_text(encoding="utf-8") == original


@pytest.mark.parametrize("existing", ["pipewatch.yml", "rules/pipewatch.yml"])
def test_refuses_to_overwrite_and_writes_nothing(tmp_path: Path, existing: str) -> None:
    """Exit 2 with a clear message naming the file; no other file is created or changed."""
    project = dbt_project(tmp_path / "shop")
    (project / existing).parent.mkdir(parents=True, exist_ok=True)
    (project / existing).write_text("mine: true\n", encoding="utf-8")
    code, out = init(project)
    assert code == 2
    assert f"refusing to overwrite {existing}" in out
    assert "Traceback" not in out
    assert (project / existing).read_text(encoding="utf-8") == "mine: true\n"
    assert not (project / "packages.yml").exists()
    others = {"pipewatch.yml", "rules/pipewatch.yml"} - {existing}
    assert not any((project / o).exists() for o in others)


def test_refuses_a_folder_that_is_not_a_dbt_project(tmp_path: Path) -> None:
    """No dbt_project.yml: exit 2, nothing written."""
    code, out = init(tmp_path)
    assert code == 2 and "no dbt_project.yml" in out
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [("packages: [{local: ../x}]\n", "add this entry by hand"), ("packages: [\n", "invalid YAML")],
)
def test_a_packages_file_it_cannot_edit_is_an_input_error(tmp_path: Path, text: str, problem: str) -> None:
    """A flow-style list or broken YAML: exit 2 naming the file, and nothing is written."""
    project = dbt_project(tmp_path / "shop")
    (project / "packages.yml").write_text(text, encoding="utf-8")
    code, out = init(project)
    assert code == 2 and "packages.yml" in out and problem in out
    assert not (project / "pipewatch.yml").exists()
    assert (project / "packages.yml").read_text(encoding="utf-8") == text


def test_uses_dependencies_yml_when_that_is_where_packages_are(tmp_path: Path) -> None:
    """dbt >= 1.6 projects may keep packages in dependencies.yml: the entry goes there."""
    project = dbt_project(tmp_path / "shop")
    (project / "dependencies.yml").write_text("packages:\n  - local: ../x\n", encoding="utf-8")
    scaffold(project, package="git")
    assert not (project / "packages.yml").exists()
    assert len(yaml.safe_load((project / "dependencies.yml").read_text(encoding="utf-8"))["packages"]) == 2


_names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(
    locals_=st.lists(_names, max_size=4),
    indent=st.sampled_from(["", "  ", "    "]),
    comment=st.booleans(),
    trailing_key=st.booleans(),
)
def test_insert_keeps_every_entry_and_adds_one_last(
    locals_: list[str], indent: str, comment: bool, trailing_key: bool
) -> None:
    """Whatever the block list's indentation, comments and following keys, the result is the old list
    plus the entry, and every comment line survives."""
    lines = ["# head"] if comment else []
    lines.append("packages:" + ("  # the list" if comment else ""))
    for name in locals_:
        lines.append(f"{indent}- local: ../{name}")
        if comment:
            lines.append(f"{indent}  # about {name}")
    if trailing_key:
        lines.append("other: 1")
    text = "\n".join(lines) + "\n"
    entry = {"git": PACKAGE_GIT_URL, "subdirectory": "macros"}
    out = _insert_entry(Path("packages.yml"), text, entry, has_key=True)
    data = yaml.safe_load(out)
    assert data["packages"] == [*({"local": f"../{n}"} for n in locals_), entry]
    if trailing_key:
        assert data["other"] == 1
    assert [line for line in text.splitlines() if "#" in line] == [
        line for line in out.splitlines() if "#" in line
    ]


def test_insert_refuses_what_it_cannot_edit_line_by_line() -> None:
    """A flow-style list is reported, not rewritten."""
    with pytest.raises(ConfigError, match="add this entry by hand"):
        _insert_entry(Path("packages.yml"), "packages: []\n", {"local": "x"}, has_key=True)


@pytest.mark.dbt
def test_dbt_installs_and_parses_the_scaffolded_project(tmp_path: Path) -> None:
    """With the entry init wrote, real `dbt deps` and `dbt parse` find the pipewatch package's macros."""
    project = dbt_project(tmp_path / "shop")
    (project / "profiles.yml").write_text(
        f"shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{project / 'x.duckdb'}'\n",
        encoding="utf-8",
    )
    scaffold(project, package="local", package_path=MACROS)
    (project / "models" / "schema.yml").write_text(
        "version: 2\nmodels:\n  - name: orders\n    data_tests:\n      - pipewatch.row_count:\n"
        "          arguments: {min: 1}\n",
        encoding="utf-8",
    )
    deps = run_dbt(project, "deps")
    assert deps.returncode == 0, deps.stdout + deps.stderr
    parsed = run_dbt(project, "parse")
    assert parsed.returncode == 0, parsed.stdout + parsed.stderr
    manifest = (project / "target" / "manifest.json").read_text(encoding="utf-8")
    assert "macro.pipewatch.test_row_count" in manifest
