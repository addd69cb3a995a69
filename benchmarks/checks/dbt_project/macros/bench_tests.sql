{#-
  Generic tests for the checks dbt core has no test for, written as a dbt user would (the dbt-utils
  shapes, without installing a hub package). Each returns the failing rows, so dbt's `failures` equals
  pipewatch's failing_rows: NULL never fails range/regex/expression; duplicate_rows counts the rows
  beyond the first of each key (NULL keys group); row_count/recency return one row when they fail.
-#}

{% test accepted_range(model, column_name, min_value=none, max_value=none) %}
select * from {{ model }}
where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}
{% endtest %}

{% test matches_regex(model, column_name, pattern) %}
select * from {{ model }}
{% if target.type == 'spark' -%}
{#- Spark reads backslash as an escape in string literals: `\.` must reach it as `\\.` -#}
where not ({{ column_name }} rlike '{{ pattern | replace('\\', '\\\\') }}')
{% else -%}
where not regexp_matches({{ column_name }}, '{{ pattern }}')
{%- endif %}
{% endtest %}

{% test expression_is_true(model, expression) %}
select * from {{ model }}
where not ({{ expression }})
{% endtest %}

{% test row_count_at_least(model, min_rows) %}
select n from (select count(*) as n from {{ model }}) as counted
where n < {{ min_rows }}
{% endtest %}

{% test recency(model, field, max_age_hours) %}
select latest from (select max({{ field }}) as latest from {{ model }}) as newest
where latest is null or latest < cast(now() as timestamp) - interval {{ max_age_hours }} hour
{% endtest %}

{% test duplicate_rows(model, columns) %}
{%- set keys = columns | join(", ") -%}
select * from (
    select {{ keys }}, row_number() over (partition by {{ keys }} order by {{ keys }}) as copy_no
    from {{ model }}
) as numbered
where copy_no > 1
{% endtest %}
