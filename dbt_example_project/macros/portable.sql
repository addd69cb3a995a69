{#- Where DuckDB, PostgreSQL and Spark spell the example's SQL differently, as dispatched macros
    (adapter.dispatch(name, 'shop')): the models are the same on every engine. Regex tests and quoting
    come from the pipewatch package (pipewatch.regex_search), dbt's own cross-database macros where
    dbt has one (dbt.type_string ...). -#}

{#- Integer parse of text that yields NULL for what does not parse (the fixed staging). -#}
{% macro try_parse_int(column) -%}
  {{ return(adapter.dispatch('try_parse_int', 'shop')(column)) }}
{%- endmacro %}

{% macro default__try_parse_int(column) -%}
  try_cast({{ column }} as integer)
{%- endmacro %}

{% macro postgres__try_parse_int(column) -%}
  case when trim({{ column }}) ~ '^[+-]?[0-9]+$' then cast({{ column }} as integer) end
{%- endmacro %}

{#- Integer parse of text that fails the query on a value that does not parse (the planted error).
    dbt-spark runs Spark with ANSI mode off, where cast('N/A' as int) is NULL, not an error: there
    to_number is the strict parse (INVALID_FORMAT.MISMATCH_INPUT on 'N/A'). -#}
{% macro strict_parse_int(column) -%}
  {{ return(adapter.dispatch('strict_parse_int', 'shop')(column)) }}
{%- endmacro %}

{% macro default__strict_parse_int(column) -%}
  cast({{ column }} as integer)
{%- endmacro %}

{% macro spark__strict_parse_int(column) -%}
  cast(to_number(trim({{ column }}), 'S9999999999') as integer)
{%- endmacro %}

{#- One timestamp per hour from `start` (inclusive) to `stop` (exclusive), as relation `hours(snapshot_at)`. -#}
{% macro hourly_series(start, stop) -%}
  {{ return(adapter.dispatch('hourly_series', 'shop')(start, stop)) }}
{%- endmacro %}

{% macro default__hourly_series(start, stop) -%}
  (select range as snapshot_at from range(timestamp '{{ start }}', timestamp '{{ stop }}', interval 1 hour)) as hours
{%- endmacro %}

{% macro postgres__hourly_series(start, stop) -%}
  (select generate_series(timestamp '{{ start }}', timestamp '{{ stop }}' - interval '1 hour', interval '1 hour') as snapshot_at) as hours
{%- endmacro %}

{% macro spark__hourly_series(start, stop) -%}
  (select explode(sequence(timestamp '{{ start }}', timestamp '{{ stop }}' - interval 1 hour, interval 1 hour)) as snapshot_at) as hours
{%- endmacro %}

{#- A deterministic pseudo-random integer in [0, 1000) per product, warehouse and hour. -#}
{% macro noise_1000(product_id, warehouse_id, ts) -%}
  {{ return(adapter.dispatch('noise_1000', 'shop')(product_id, warehouse_id, ts)) }}
{%- endmacro %}

{% macro default__noise_1000(product_id, warehouse_id, ts) -%}
  (hash({{ product_id }}, {{ warehouse_id }}, {{ ts }}) % 1000)
{%- endmacro %}

{#- Engines whose hash differs (or is missing): a multiplicative hash of the hour number. -#}
{% macro postgres__noise_1000(product_id, warehouse_id, ts) -%}
  (({{ product_id }} * 7919 + {{ warehouse_id }} * 104729 + cast(extract(epoch from {{ ts }}) / 3600 as bigint) * 1299709) % 1000)
{%- endmacro %}

{% macro spark__noise_1000(product_id, warehouse_id, ts) -%}
  (({{ product_id }} * 7919 + {{ warehouse_id }} * 104729 + cast(unix_timestamp({{ ts }}) / 3600 as bigint) * 1299709) % 1000)
{%- endmacro %}

{#- The continuous `p` quantile of `value` over the named window `window`, in two steps: the `state`
    a window computes, then the quantile from it in the next select. DuckDB and Spark compute the
    quantile in the window (the second step passes it on); PostgreSQL has no windowed percentile_cont,
    so its window collects the values and the second step ranks them. -#}
{% macro window_quantile_state(value, p, window) -%}
  {{ return(adapter.dispatch('window_quantile_state', 'shop')(value, p, window)) }}
{%- endmacro %}

{% macro default__window_quantile_state(value, p, window) -%}
  quantile_cont({{ value }}, {{ p }}) over {{ window }}
{%- endmacro %}

{% macro postgres__window_quantile_state(value, p, window) -%}
  array_agg({{ value }}) over {{ window }}
{%- endmacro %}

{% macro spark__window_quantile_state(value, p, window) -%}
  percentile({{ value }}, {{ p }}) over {{ window }}
{%- endmacro %}

{% macro window_quantile_final(state, p) -%}
  {{ return(adapter.dispatch('window_quantile_final', 'shop')(state, p)) }}
{%- endmacro %}

{% macro default__window_quantile_final(state, p) -%}
  {{ state }}
{%- endmacro %}

{% macro postgres__window_quantile_final(state, p) -%}
  (select percentile_cont({{ p }}) within group (order by pw_v) from unnest({{ state }}) as pw_v)
{%- endmacro %}

{#- `value` at the row with the greatest `key` in the group. -#}
{% macro value_at_max(value, key) -%}
  {{ return(adapter.dispatch('value_at_max', 'shop')(value, key)) }}
{%- endmacro %}

{% macro default__value_at_max(value, key) -%}
  arg_max({{ value }}, {{ key }})
{%- endmacro %}

{% macro postgres__value_at_max(value, key) -%}
  (array_agg({{ value }} order by {{ key }} desc))[1]
{%- endmacro %}

{% macro spark__value_at_max(value, key) -%}
  max_by({{ value }}, {{ key }})
{%- endmacro %}

{#- The inventory replay's first hour. DuckDB replays 17 months (~1.6M rows, the build's critical
    path); the other engines replay 5 so a local Spark build stays short: the models, the critical path
    and every planted failure are the same. -#}
{% macro inventory_start() -%}
  {{ return('2023-01-01 00:00:00' if target.type == 'duckdb' else '2024-01-01 00:00:00') }}
{%- endmacro %}

{#- ISO day of the week of `ts` (Monday 1 ... Sunday 7). -#}
{% macro iso_weekday(ts) -%}
  {{ return(adapter.dispatch('iso_weekday', 'shop')(ts)) }}
{%- endmacro %}

{% macro default__iso_weekday(ts) -%}
  extract(isodow from {{ ts }})
{%- endmacro %}

{% macro spark__iso_weekday(ts) -%}
  extract(dayofweek_iso from {{ ts }})
{%- endmacro %}
