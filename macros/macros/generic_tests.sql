{#-
  Generic tests mirroring pipewatch's rule types, with the rule file's argument names, so a check moves
  between rules/*.yml and a dbt test unchanged:

    rules/*.yml                                     schema.yml (data_tests:)
    - range: {column: amount, min: 0}               - pipewatch.range: {arguments: {column: amount, min: 0}}

  Under a column, dbt passes `column_name`, which stands in for `column`. The common rule options work
  too: `severity` and `where` are dbt configs already, `name` is the test's name, and `max_failures` /
  `max_failure_ratio` (`max_ratio` for duplicates) set the test's warn_if/error_if so it fails exactly
  when pipewatch's check does. `failures` in run_results.json equals pipewatch's failing_rows (0 or 1
  for the pass/fail checks row_count and freshness), except that dbt reports 0 for any test that passes,
  so a count held under its threshold shows in pipewatch only.

  not_null, unique, accepted_values and relationships run dbt's own queries. dbt looks unnamespaced
  test names up in installed packages before its own, so a plain `unique` in a project that installs
  pipewatch reaches these wrappers: they run dbt's query, so nothing about such a test changes.
-#}

{% macro column_arg(test_name, column_name, column) -%}
  {%- set col = column_name if column_name is not none else column -%}
  {%- if col is none -%}
    {{ exceptions.raise_compiler_error("pipewatch." ~ test_name ~ ": give `column` (or put the test under a column)") }}
  {%- endif -%}
  {{ return(col) }}
{%- endmacro %}

{#- Set warn_if/error_if from the rule thresholds, and return the failing-rows SQL with the checked rows'
    count alongside when a ratio needs it. -#}
{% macro with_thresholds(sql, model, max_failures, max_failure_ratio) -%}
  {%- if max_failures is none and max_failure_ratio is none -%}
    {{ return(sql) }}
  {%- endif -%}
  {%- set fail_calc = config.get('fail_calc', 'count(*)') or 'count(*)' -%}
  {%- set condition = pipewatch.threshold_condition(fail_calc, 'max(pw__total)', max_failures, max_failure_ratio) -%}
  {%- set suffix = ">= 0 and " ~ condition -%}
  {%- do config(warn_if=suffix, error_if=suffix) -%}
  {%- if max_failure_ratio is none -%}
    {{ return(sql) }}
  {%- endif -%}
  {{ return("select pw_failing.*, pw_total.pw__total from (" ~ sql ~ ") pw_failing cross join (select count(*) as pw__total from " ~ model ~ ") pw_total") }}
{%- endmacro %}

{% macro run_test(check_type, model, args, max_failures=none, max_failure_ratio=none) -%}
  {{ return(adapter.dispatch('test_sql', 'pipewatch')(check_type, model, args, max_failures, max_failure_ratio)) }}
{%- endmacro %}

{% macro default__test_sql(check_type, model, args, max_failures, max_failure_ratio) -%}
  {%- set sql = pipewatch.failing_rows_sql(check_type, model, args) -%}
  {{ return(pipewatch.with_thresholds(sql, model, max_failures, max_failure_ratio)) }}
{%- endmacro %}


{% test not_null(model, column_name=none, column=none, max_failures=none, max_failure_ratio=none, weight=none) %}
  {{ pipewatch.run_test('not_null', model, {'column': pipewatch.column_arg('not_null', column_name, column)}, max_failures, max_failure_ratio) }}
{% endtest %}

{% test unique(model, column_name=none, column=none, max_failures=none, max_failure_ratio=none, weight=none) %}
  {{ pipewatch.run_test('unique', model, {'column': pipewatch.column_arg('unique', column_name, column)}, max_failures, max_failure_ratio) }}
{% endtest %}

{% test accepted_values(model, values, column_name=none, column=none, quote=true, max_failures=none, max_failure_ratio=none, weight=none) %}
  {%- set args = {'column': pipewatch.column_arg('accepted_values', column_name, column), 'values': values, 'quote': quote} -%}
  {{ pipewatch.run_test('accepted_values', model, args, max_failures, max_failure_ratio) }}
{% endtest %}

{% test relationships(model, to, column_name=none, column=none, field=none, max_failures=none, max_failure_ratio=none, weight=none) %}
  {%- set col = pipewatch.column_arg('relationships', column_name, column) -%}
  {%- set args = {'column': col, 'to': pipewatch.resolve_parent(to), 'field': field if field is not none else col} -%}
  {{ pipewatch.run_test('relationships', model, args, max_failures, max_failure_ratio) }}
{% endtest %}

{% test range(model, column_name=none, column=none, min=none, max=none, inclusive=true, max_failures=none, max_failure_ratio=none, weight=none) %}
  {%- if min is none and max is none -%}
    {{ exceptions.raise_compiler_error("pipewatch.range: give `min`, `max` or both") }}
  {%- endif -%}
  {%- set args = {'column': pipewatch.column_arg('range', column_name, column), 'min': min, 'max': max, 'inclusive': inclusive} -%}
  {{ pipewatch.run_test('range', model, args, max_failures, max_failure_ratio) }}
{% endtest %}

{% test matches(model, pattern, column_name=none, column=none, max_failures=none, max_failure_ratio=none, weight=none) %}
  {%- set args = {'column': pipewatch.column_arg('matches', column_name, column), 'pattern': pattern} -%}
  {{ pipewatch.run_test('matches', model, args, max_failures, max_failure_ratio) }}
{% endtest %}

{% test expression(model, sql, column_name=none, max_failures=none, max_failure_ratio=none, weight=none) %}
  {{ pipewatch.run_test('expression', model, {'sql': sql}, max_failures, max_failure_ratio) }}
{% endtest %}

{% test row_count(model, min=none, max=none, weight=none) %}
  {%- if min is none and max is none -%}
    {{ exceptions.raise_compiler_error("pipewatch.row_count: give `min`, `max` or both") }}
  {%- endif -%}
  {{ pipewatch.run_test('row_count', model, {'min': min, 'max': max}) }}
{% endtest %}

{% test freshness(model, max_age, column_name=none, column=none, weight=none) %}
  {%- set args = {'column': pipewatch.column_arg('freshness', column_name, column), 'max_age_s': pipewatch.duration_seconds(max_age, '.freshness')} -%}
  {{ pipewatch.run_test('freshness', model, args) }}
{% endtest %}

{% test duplicates(model, columns=none, column_name=none, column=none, max_ratio=none, max_failures=none, max_failure_ratio=none, weight=none) %}
  {%- set keys = columns if columns is not none else [pipewatch.column_arg('duplicates', column_name, column)] -%}
  {%- set keys = [keys] if keys is string else keys -%}
  {{ pipewatch.run_test('duplicates', model, {'columns': keys}, max_failures, max_failure_ratio if max_failure_ratio is not none else max_ratio) }}
{% endtest %}
