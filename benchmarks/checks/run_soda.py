"""Worker for the Soda Core contender; runs in Soda's own venv (soda-core-duckdb 3.5 pins duckdb<1.1).

    python run_soda.py ORDERS.parquet CUSTOMERS.parquet CHECKS.yml SAMPLES

The Parquet files become the views `orders` and `customers` of an in-memory DuckDB connection handed
to a Soda scan. SAMPLES `0` adds `samples limit: 0` to every check (no failed-rows queries); `default`
keeps Soda's default. Prints `{"counts": {check name: value}, "outcomes": {check name: pass|fail},
"errors": [...]}`, where the value is the check's metric as Soda reports it. Set SODA_CORE_TELEMETRY_ENABLED=false and
a scratch HOME: offline, Soda's telemetry otherwise retries for seconds.
"""

from __future__ import annotations

import io
import json
import sys

import duckdb
from ruamel.yaml import YAML
from soda.scan import Scan


def checks_yaml(path: str, no_samples: bool) -> str:
    """The SodaCL file, with `samples limit: 0` on every check when samples are off."""
    yaml = YAML()
    with open(path, encoding="utf-8") as fh:
        doc = yaml.load(fh)
    if no_samples:
        for section in doc.values():
            for i, check in enumerate(section):
                if isinstance(check, str):
                    section[i] = {check: {"samples limit": 0}}
                    continue
                for config in check.values():
                    config["samples limit"] = 0
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def main(argv: list[str]) -> int:
    """Run the scan and print each check's metric value and outcome."""
    orders, customers, checks, samples = argv
    con = duckdb.connect()
    con.execute(f"CREATE VIEW orders AS SELECT * FROM read_parquet('{orders}')")
    con.execute(f"CREATE VIEW customers AS SELECT * FROM read_parquet('{customers}')")
    scan = Scan()
    scan.set_data_source_name("duckdb")
    scan.add_duckdb_connection(con, data_source_name="duckdb")
    scan.add_sodacl_yaml_str(checks_yaml(checks, samples == "0"), file_name="soda_checks.yml")
    exit_code = scan.execute()
    results = scan.get_scan_results()
    counts: dict[str, object] = {}
    outcomes: dict[str, object] = {}
    for check in results.get("checks", []):
        diagnostics = check.get("diagnostics") or {}
        counts[check["name"]] = diagnostics.get("value")
        outcomes[check["name"]] = check.get("outcome")
    errors = [str(log.message) for log in scan.get_error_logs()]
    print(json.dumps({"counts": counts, "outcomes": outcomes, "errors": errors}, default=str))
    return exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
