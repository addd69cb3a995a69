"""dbt tests run by pipewatch count exactly what dbt counts: real `dbt test` runs compared test by test.

Two projects: a small one written here whose seeds plant violations for every supported test shape
(`where`, `severity: warn`, `warn_if`/`error_if`, `quote: false`, a `ref` parent, a column expression,
dbt-utils tests from a local stand-in package, plus a singular test, an unknown generic test and a custom
`fail_calc` that must be skipped), and the example shop project after its faulty and clean builds.

The comparison is dbt's own rule: run_results' `failures` is the failing count when the test warns or
fails, and 0 when it passes (dbt reports no count below the threshold); statuses must be equal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BuiltProject, run_dbt

pytestmark = pytest.mark.dbt

CHECK = "from pipewatch.commands.check import check_command; check_command(prog_name='pipewatch check')"

CUSTOMERS = """\
id,email,country,signup_date,score
1,a@x.com,US,2024-01-01,10
2,b@x.com,DE,2024-01-01,20
3,,FR,2024-01-02,30
3,c@x.com,US,2024-01-03,150
4,d@x.com,XX,2024-01-03,
,e@x.com,YY,2024-01-04,-5
5,f@x.com,XX,2024-01-05,100
6,g@x.com,ZZ,,0
6,h@x.com,ZZ,,1
"""
ORDERS = """\
order_id,customer_id,amount,status,created_at,quantity
100,1,10.5,paid,2024-02-01,1
101,2,0,open,2024-02-02,2
102,99,5,paid,2024-02-03,1
103,98,7,open,2023-12-01,3
104,,3,paid,2024-02-04,1
105,3,-2,refunded,2024-02-05,1
106,4,900,lost,2024-03-01,2
107,5,12,,2024-03-02,1
108,6,1,PAID,2023-11-01,1
"""
SCHEMA = """\
version: 2
sources:
  - name: raw
    schema: main
    tables:
      - name: orders
        columns:
          - name: order_id
            data_tests: [not_null, unique]
seeds:
  - name: customers
    config:
      column_types: {id: integer, score: integer, signup_date: date}
    data_tests:
      - dbt_utils.unique_combination_of_columns:
          arguments: {combination_of_columns: [country, signup_date]}
      - dbt_utils.expression_is_true:
          arguments: {expression: "score >= 0 or score is null"}
    columns:
      - name: id
        data_tests:
          - unique
          - not_null
          - unique:
              name: unique_customers_id_outside_zz
              config: {where: "country <> 'ZZ'"}
          - not_null:
              name: distinct_ids_fail_calc
              config: {fail_calc: "count(distinct id)"}
          - positive
      - name: email
        data_tests:
          - not_null: {config: {severity: warn}}
      - name: country
        data_tests:
          - accepted_values:
              arguments: {values: [US, DE, FR]}
              config: {warn_if: "> 1", error_if: "> 3"}
      - name: score
        data_tests:
          - accepted_values:
              arguments: {values: [0, 1, 10, 20, 30, 100], quote: false}
          - dbt_utils.accepted_range:
              arguments: {min_value: 0, max_value: 100}
          - dbt_utils.accepted_range:
              name: score_strictly_between
              arguments: {min_value: 0, max_value: 100, inclusive: false}
          - dbt_utils.not_null_proportion:
              arguments: {at_least: 0.95}
          - dbt_utils.not_null_proportion:
              name: score_mostly_present
              arguments: {at_least: 0.5}
  - name: orders
    config:
      column_types: {order_id: integer, customer_id: integer, amount: double, created_at: date, quantity: integer}
    columns:
      - name: customer_id
        data_tests:
          - relationships:
              arguments: {to: ref('customers'), field: id}
          - relationships:
              name: paid_orders_have_customers
              arguments: {to: ref('customers'), field: id}
              config: {where: "status = 'paid'"}
      - name: amount
        data_tests:
          - dbt_utils.expression_is_true:
              arguments: {expression: "> 0"}
          - dbt_utils.accepted_range:
              arguments: {min_value: 0, max_value: "quantity * 100"}
          - not_null:
              config: {severity: warn, warn_if: ">= 3"}
      - name: status
        data_tests:
          - accepted_values:
              arguments: {values: [paid, open, refunded]}
              config: {severity: warn}
          - not_null:
              config: {where: "created_at >= '2024-01-01'"}
"""
# A stand-in for dbt-utils (no hub packages offline): the four tests pipewatch maps, written from their
# documented semantics, so dbt itself computes `failures` for them.
DBT_UTILS = """\
{% test expression_is_true(model, expression, column_name=None) %}
select 1 as failing from {{ model }}
where not ({% if column_name %}{{ column_name }} {% endif %}{{ expression }})
{% endtest %}

{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
select * from {{ model }} where 1 = 2
{%- if min_value is not none %} or not {{ column_name }} >{{ '=' if inclusive }} {{ min_value }}{% endif %}
{%- if max_value is not none %} or not {{ column_name }} <{{ '=' if inclusive }} {{ max_value }}{% endif %}
{% endtest %}

{% test unique_combination_of_columns(model, combination_of_columns, quote_columns=false) %}
select {{ combination_of_columns | join(', ') }} from {{ model }}
group by {{ combination_of_columns | join(', ') }} having count(*) > 1
{% endtest %}

{% test not_null_proportion(model, column_name, at_least, at_most=1.0) %}
select share from (
    select sum(case when {{ column_name }} is null then 0 else 1 end) / cast(count(*) as numeric) as share
    from {{ model }}
) shares where share < {{ at_least }} or share > {{ at_most }}
{% endtest %}
"""
POSITIVE = """\
{% test positive(model, column_name) %}
select * from {{ model }} where {{ column_name }} <= 0
{% endtest %}
"""
SINGULAR = "select * from {{ ref('orders') }} where amount > 500\n"


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def tested(tmp_path_factory: pytest.TempPathFactory) -> BuiltProject:
    """The small project after a real `dbt seed` and `dbt test`."""
    root = tmp_path_factory.mktemp("dbt_tests")
    project = root / "proj"
    db = project / "target" / "pw.duckdb"
    _write(
        project,
        {
            "dbt_project.yml": "name: pwt\nversion: '1.0'\nconfig-version: 2\nprofile: pwt\n",
            "profiles.yml": f"pwt:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{db}'\n",
            "packages.yml": "packages:\n  - local: dbt_utils_stub\n",
            "dbt_utils_stub/dbt_project.yml": "name: dbt_utils\nversion: '1.0'\nconfig-version: 2\n",
            "dbt_utils_stub/macros/tests.sql": DBT_UTILS,
            "macros/positive.sql": POSITIVE,
            "seeds/customers.csv": CUSTOMERS,
            "seeds/orders.csv": ORDERS,
            "seeds/schema.yml": SCHEMA,
            "tests/big_orders.sql": SINGULAR,
        },
    )
    for step in (("deps",), ("seed",)):
        done = run_dbt(project, *step)
        assert done.returncode == 0, done.stdout + done.stderr
    tested = run_dbt(project, "test")
    assert tested.returncode in (0, 1), tested.stdout + tested.stderr
    return BuiltProject(project, tested.returncode, -1)


def pipewatch_check(*args: str) -> subprocess.CompletedProcess[str]:
    """`pipewatch check` as a process (the command module's own entry point)."""
    return subprocess.run(
        [sys.executable, "-c", CHECK, *args], capture_output=True, text=True, timeout=300, check=False
    )


def checks_by_id(project: Path, *warehouse: str) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Run `pipewatch check --dbt-tests` and return its checks and skipped tests by id."""
    done = pipewatch_check(
        "--dbt-tests", "--project-dir", str(project), "--format", "json", "--no-history", *warehouse
    )
    assert done.returncode in (0, 1), done.stderr
    quality = json.loads(done.stdout)["quality"]
    checks = {c["id"]: c for t in quality["tables"] for c in t["checks"]}
    skipped = {s["id"]: s["reason"] for s in quality["skipped"]}
    return checks, skipped


def dbt_failures(check: dict[str, Any]) -> int:
    """What dbt's run_results would say for this result: the count when warn/fail, else 0."""
    if check["status"] not in ("fail", "warn"):
        return 0
    return int(check["failing_rows"]) if check["failing_rows"] is not None else 1


def compare(built: BuiltProject, checks: dict[str, dict[str, Any]]) -> list[tuple[str, str, int, int]]:
    """(test id, dbt status, dbt failures, pipewatch failing rows) for every test dbt ran; asserts equality."""
    rows = []
    for result in built.artifact("run_results.json")["results"]:
        uid = result["unique_id"]
        if (
            not uid.startswith("test.")
            or result["status"] not in ("pass", "fail", "warn")
            or uid not in checks
        ):
            continue
        mine = checks[uid]
        assert mine["status"] == result["status"], (uid, mine, result["status"], result["message"])
        assert dbt_failures(mine) == result["failures"], (uid, mine, result["failures"])
        rows.append((uid, result["status"], result["failures"], mine["failing_rows"]))
    return rows


def test_every_supported_test_counts_as_dbt_counts(tested: BuiltProject) -> None:
    db = tested.target / "pw.duckdb"
    checks, skipped = checks_by_id(tested.project_dir, "--duckdb", str(db))
    rows = compare(tested, checks)
    ran = {r["unique_id"] for r in tested.artifact("run_results.json")["results"]}
    assert ran == set(checks) | set(skipped)  # every test is run or listed as skipped, none lost
    assert {uid for uid, *_ in rows} == set(checks)
    statuses = sorted(status for _, status, _, _ in rows)
    assert statuses.count("fail") >= 10 and statuses.count("warn") >= 3  # not a vacuous comparison
    by_name = {uid.split(".")[2]: c for uid, c in checks.items()}
    # Planted counts, each distinct: the NULL semantics and thresholds are what make them differ.
    assert by_name["unique_customers_id"]["failing_rows"] == 2  # ids 3 and 6
    assert by_name["unique_customers_id_outside_zz"]["failing_rows"] == 1  # `where` drops id 6
    assert by_name["accepted_values_customers_country__US__DE__FR"]["status"] == "warn"  # 3 > 1, not > 3
    assert (
        by_name["dbt_utils_unique_combination_of_columns_customers_country__signup_date"]["failing_rows"] == 1
    )
    assert by_name["score_strictly_between"]["failing_rows"] == 4  # 150, -5 and the bounds 0 and 100
    assert by_name["score_mostly_present"]["status"] == "pass"
    assert by_name["paid_orders_have_customers"]["failing_rows"] == 1  # orphan 98's order is open
    assert by_name["not_null_orders_amount"]["status"] == "pass"  # warn_if >= 3 with no NULLs
    # What pipewatch cannot fuse runs as dbt's own SQL; nothing is left out.
    assert not skipped
    as_sql = {uid for uid, c in checks.items() if c["engine"] == "dbt_sql"}
    assert as_sql == {
        "test.pwt.big_orders",
        next(u for u in ran if ".positive_customers_id." in u),
        next(u for u in ran if ".distinct_ids_fail_calc." in u),
    }
    assert checks["test.pwt.big_orders"]["type"] == "singular"


def test_through_the_dbt_profile_the_counts_are_the_same(tested: BuiltProject) -> None:
    native, _ = checks_by_id(tested.project_dir, "--duckdb", str(tested.target / "pw.duckdb"))
    adapter, _ = checks_by_id(tested.project_dir, "--profiles-dir", str(tested.project_dir))
    assert {k: (c["status"], c["failing_rows"]) for k, c in adapter.items()} == {
        k: (c["status"], c["failing_rows"]) for k, c in native.items()
    }
    compare(tested, adapter)


def test_example_project_faulty_build_matches_dbt(faulty_build: BuiltProject) -> None:
    db = faulty_build.target / "pipewatch_example.duckdb"
    checks, skipped = checks_by_id(faulty_build.project_dir, "--duckdb", str(db))
    rows = compare(faulty_build, checks)
    failing = {uid.split(".")[2]: (status, n) for uid, status, n, _ in rows if status != "pass"}
    assert failing["unique_stg_customers_customer_id"] == ("fail", 1)
    assert any(status == "warn" for status, _ in failing.values())
    # Tests dbt skipped were not compared: their models errored or were skipped, so on this fresh
    # database the relation is missing and pipewatch reports each such check as `error`, never `pass`.
    results = {r["unique_id"]: r["status"] for r in faulty_build.artifact("run_results.json")["results"]}
    dbt_skipped = [uid for uid in checks if results.get(uid) == "skipped"]
    assert dbt_skipped
    for uid in dbt_skipped:
        assert checks[uid]["status"] == "error" and "does not exist" in checks[uid]["message"], uid
    assert not skipped


def test_example_project_clean_build_matches_dbt(clean_build: BuiltProject) -> None:
    checks, _ = checks_by_id(clean_build.project_dir, "--profiles-dir", str(clean_build.project_dir))
    rows = compare(clean_build, checks)
    ran = [r for r in clean_build.artifact("run_results.json")["results"] if r["unique_id"] in checks]
    assert len(rows) == len(ran) >= 40
    assert all(status == "pass" for _, status, _, _ in rows)


def _check_with_env(project: Path, profiles: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", CHECK, "--dbt-tests", "--project-dir", str(project), "--format", "json"]
    cmd += ["--no-history", "--profiles-dir", str(profiles)]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env={**os.environ, **env}, check=False
    )


def test_env_var_profiles_render_as_dbt_renders_them(tested: BuiltProject, tmp_path: Path) -> None:
    db = tested.target / "pw.duckdb"
    (tmp_path / "profiles.yml").write_text(
        "pwt:\n  target: \"{{ env_var('PW_TEST_TARGET') }}\"\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: \"{{{{ env_var('PW_TEST_UNSET_PATH', '{db}') }}}}\"\n"
        "      threads: \"{{ env_var('PW_TEST_THREADS') | as_number }}\"\n"
    )
    env = {"PW_TEST_TARGET": "dev", "PW_TEST_THREADS": "3"}
    done = _check_with_env(tested.project_dir, tmp_path, env)
    assert done.returncode in (0, 1), done.stderr
    checks = {c["id"]: c for t in json.loads(done.stdout)["quality"]["tables"] for c in t["checks"]}
    compare(tested, checks)


def test_env_secrets_are_never_printed(tested: BuiltProject, tmp_path: Path) -> None:
    (tmp_path / "profiles.yml").write_text(
        "pwt:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        "      path: \"{{ env_var('DBT_ENV_SECRET_PW_DIR') }}/pw.duckdb\"\n"
    )
    secret = str(tmp_path / "no-such-s3cret-dir")
    done = _check_with_env(tested.project_dir, tmp_path, {"DBT_ENV_SECRET_PW_DIR": secret})
    assert done.returncode in (2, 3), done.stderr
    assert secret not in done.stdout + done.stderr and "s3cret" not in done.stderr
    assert done.stderr.startswith("pipewatch: error:") and "Traceback" not in done.stderr
