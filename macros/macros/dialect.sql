{#-
  Where SQL dialects differ, as small dispatched macros (adapter.dispatch(name, 'pipewatch')).

  Every name here is one dbt's own `dbt` namespace does not use: dbt resolves its cross-database macros
  by name through installed packages too, so a package defining e.g. `default__type_string` would
  silently replace dbt's. Overrides: duckdb, postgres (and redshift through it), snowflake, bigquery,
  spark (and databricks through it).
-#}

{#- A SQL string literal holding `text` exactly. -#}
{% macro quote_text(text) -%}
  {{ return(adapter.dispatch('quote_text', 'pipewatch')(text)) }}
{%- endmacro %}

{% macro default__quote_text(text) -%}
  {{ return("'" ~ (text | string).replace("'", "''") ~ "'") }}
{%- endmacro %}

{#- These read backslash as an escape character inside string literals. -#}
{% macro snowflake__quote_text(text) -%}
  {{ return("'" ~ (text | string).replace("\\", "\\\\").replace("'", "\\'") ~ "'") }}
{%- endmacro %}

{#- Redshift, unlike PostgreSQL, reads backslash as an escape in literals. -#}
{% macro redshift__quote_text(text) -%}
  {{ return(pipewatch.snowflake__quote_text(text)) }}
{%- endmacro %}

{% macro bigquery__quote_text(text) -%}
  {{ return(pipewatch.snowflake__quote_text(text)) }}
{%- endmacro %}

{% macro spark__quote_text(text) -%}
  {{ return(pipewatch.snowflake__quote_text(text)) }}
{%- endmacro %}

{% macro databricks__quote_text(text) -%}
  {{ return(pipewatch.snowflake__quote_text(text)) }}
{%- endmacro %}


{#- True when `value_sql` contains a match of `pattern` anywhere (a search, like Python's re.search),
    NULL when the value is NULL, so NULLs never fail `matches`. -#}
{% macro regex_search(value_sql, pattern) -%}
  {{ return(adapter.dispatch('regex_search', 'pipewatch')(value_sql, pattern)) }}
{%- endmacro %}

{% macro default__regex_search(value_sql, pattern) -%}
  {{ return("regexp_like(" ~ value_sql ~ ", " ~ pipewatch.quote_text(pattern) ~ ")") }}
{%- endmacro %}

{% macro duckdb__regex_search(value_sql, pattern) -%}
  {{ return("regexp_matches(" ~ value_sql ~ ", " ~ pipewatch.quote_text(pattern) ~ ")") }}
{%- endmacro %}

{% macro postgres__regex_search(value_sql, pattern) -%}
  {{ return("(" ~ value_sql ~ " ~ " ~ pipewatch.quote_text(pattern) ~ ")") }}
{%- endmacro %}

{#- Snowflake's REGEXP_LIKE must match the whole string; REGEXP_INSTR finds a match anywhere. -#}
{% macro snowflake__regex_search(value_sql, pattern) -%}
  {{ return("(regexp_instr(" ~ value_sql ~ ", " ~ pipewatch.quote_text(pattern) ~ ") > 0)") }}
{%- endmacro %}

{% macro bigquery__regex_search(value_sql, pattern) -%}
  {{ return("regexp_contains(" ~ value_sql ~ ", " ~ pipewatch.quote_text(pattern) ~ ")") }}
{%- endmacro %}

{% macro spark__regex_search(value_sql, pattern) -%}
  {{ return("(" ~ value_sql ~ " rlike " ~ pipewatch.quote_text(pattern) ~ ")") }}
{%- endmacro %}

{% macro databricks__regex_search(value_sql, pattern) -%}
  {{ return(pipewatch.spark__regex_search(value_sql, pattern)) }}
{%- endmacro %}


{#- The warehouse's current time as a timestamp. -#}
{% macro current_ts() -%}
  {{ return(adapter.dispatch('current_ts', 'pipewatch')()) }}
{%- endmacro %}

{% macro default__current_ts() -%}
  {{ return(dbt.current_timestamp()) }}
{%- endmacro %}

{% macro duckdb__current_ts() -%}
  {{ return("current_timestamp") }}
{%- endmacro %}

{% macro postgres__current_ts() -%}
  {{ return("now()") }}
{%- endmacro %}

{% macro snowflake__current_ts() -%}
  {{ return("current_timestamp()") }}
{%- endmacro %}

{% macro bigquery__current_ts() -%}
  {{ return("current_timestamp()") }}
{%- endmacro %}

{% macro spark__current_ts() -%}
  {{ return("current_timestamp()") }}
{%- endmacro %}

{% macro databricks__current_ts() -%}
  {{ return("current_timestamp()") }}
{%- endmacro %}


{#- Seconds from the timestamp (or date) `ts_sql` to now. A timestamp without a time zone is taken as
    UTC, as pipewatch's rule engine takes it. -#}
{% macro seconds_since(ts_sql) -%}
  {{ return(adapter.dispatch('seconds_since', 'pipewatch')(ts_sql)) }}
{%- endmacro %}

{% macro default__seconds_since(ts_sql) -%}
  {{ return(dbt.datediff(ts_sql, pipewatch.current_ts(), 'second')) }}
{%- endmacro %}

{% macro duckdb__seconds_since(ts_sql) -%}
  {{ return("(epoch(current_timestamp) - epoch(" ~ ts_sql ~ "))") }}
{%- endmacro %}

{% macro postgres__seconds_since(ts_sql) -%}
  {{ return("(extract(epoch from now()) - extract(epoch from " ~ ts_sql ~ "))") }}
{%- endmacro %}

{% macro snowflake__seconds_since(ts_sql) -%}
  {{ return("(date_part(epoch_second, current_timestamp()) - date_part(epoch_second, to_timestamp_ntz(" ~ ts_sql ~ ")))") }}
{%- endmacro %}

{% macro bigquery__seconds_since(ts_sql) -%}
  {{ return("((unix_micros(current_timestamp()) - unix_micros(timestamp(" ~ ts_sql ~ "))) / 1000000)") }}
{%- endmacro %}

{% macro spark__seconds_since(ts_sql) -%}
  {{ return("(unix_timestamp(current_timestamp()) - unix_timestamp(" ~ ts_sql ~ "))") }}
{%- endmacro %}

{% macro databricks__seconds_since(ts_sql) -%}
  {{ return(pipewatch.spark__seconds_since(ts_sql)) }}
{%- endmacro %}


{#- Column types of the audit table. -#}
{% macro text_type() -%}
  {{ return(adapter.dispatch('text_type', 'pipewatch')()) }}
{%- endmacro %}

{% macro default__text_type() -%}
  {{ return(dbt.type_string()) }}
{%- endmacro %}

{% macro duckdb__text_type() -%}
  {{ return("varchar") }}
{%- endmacro %}

{% macro postgres__text_type() -%}
  {{ return("text") }}
{%- endmacro %}

{% macro snowflake__text_type() -%}
  {{ return("varchar") }}
{%- endmacro %}

{% macro bigquery__text_type() -%}
  {{ return("string") }}
{%- endmacro %}

{% macro spark__text_type() -%}
  {{ return("string") }}
{%- endmacro %}

{% macro databricks__text_type() -%}
  {{ return("string") }}
{%- endmacro %}

{% macro timestamp_type() -%}
  {{ return(adapter.dispatch('timestamp_type', 'pipewatch')()) }}
{%- endmacro %}

{% macro default__timestamp_type() -%}
  {{ return(dbt.type_timestamp()) }}
{%- endmacro %}

{% macro snowflake__timestamp_type() -%}
  {{ return("timestamp_ntz") }}
{%- endmacro %}

{% macro bigquery__timestamp_type() -%}
  {{ return("datetime") }}
{%- endmacro %}

{% macro bigint_type() -%}
  {{ return(adapter.dispatch('bigint_type', 'pipewatch')()) }}
{%- endmacro %}

{% macro default__bigint_type() -%}
  {{ return("bigint") }}
{%- endmacro %}

{% macro bigquery__bigint_type() -%}
  {{ return("int64") }}
{%- endmacro %}

{% macro double_type() -%}
  {{ return(adapter.dispatch('double_type', 'pipewatch')()) }}
{%- endmacro %}

{% macro default__double_type() -%}
  {{ return("double precision") }}
{%- endmacro %}

{% macro duckdb__double_type() -%}
  {{ return("double") }}
{%- endmacro %}

{% macro snowflake__double_type() -%}
  {{ return("double") }}
{%- endmacro %}

{% macro bigquery__double_type() -%}
  {{ return("float64") }}
{%- endmacro %}

{% macro spark__double_type() -%}
  {{ return("double") }}
{%- endmacro %}

{% macro databricks__double_type() -%}
  {{ return("double") }}
{%- endmacro %}


{#- A statement that fails, with `message` as (part of) the database's error, when the one-row query
    `query_sql` returns a non-NULL `pw_message`; it does nothing otherwise. -#}
{% macro raise_if_message(query_sql) -%}
  {{ return(adapter.dispatch('raise_if_message', 'pipewatch')(query_sql)) }}
{%- endmacro %}

{#- Anywhere else: a failed cast of the message to an integer carries it in the error. -#}
{% macro default__raise_if_message(query_sql) -%}
  {{ return("select cast(coalesce(pw_q.pw_message, '0') as " ~ dbt.type_int() ~ ") as pipewatch_assert from (" ~ query_sql ~ ") pw_q") }}
{%- endmacro %}

{% macro duckdb__raise_if_message(query_sql) -%}
  {{ return("select case when pw_q.pw_message is not null then error(pw_q.pw_message) end as pipewatch_assert from (" ~ query_sql ~ ") pw_q") }}
{%- endmacro %}

{% macro postgres__raise_if_message(query_sql) -%}
  {%- set body -%}
do $pipewatch$
declare
  pw_found text;
begin
  select pw_q.pw_message into pw_found from ({{ query_sql }}) pw_q;
  if pw_found is not null then
    raise exception '%', pw_found using errcode = 'P0001';
  end if;
end
$pipewatch$
  {%- endset -%}
  {{ return(body) }}
{%- endmacro %}

{% macro snowflake__raise_if_message(query_sql) -%}
  {{ return("select to_number(coalesce(pw_q.pw_message, '0')) as pipewatch_assert from (" ~ query_sql ~ ") pw_q") }}
{%- endmacro %}

{% macro bigquery__raise_if_message(query_sql) -%}
  {{ return("select if(pw_q.pw_message is null, 1, error(pw_q.pw_message)) as pipewatch_assert from (" ~ query_sql ~ ") pw_q") }}
{%- endmacro %}

{#- Spark evaluates a SELECT only when its rows are fetched, and a hook's rows never are (dbt-spark's
    session method): CACHE TABLE runs the query at once, so raise_error fires. The cached one-row view
    is named per model and invocation, so a second model's assertion never meets the first's. -#}
{% macro spark__raise_if_message(query_sql) -%}
  {%- set model_part = (this | string if this is defined else 'hook') -%}
  {%- set run_part = (invocation_id if invocation_id is defined else '') -%}
  {%- set name = ('pipewatch_assert_' ~ model_part ~ '_' ~ run_part).replace('.', '_').replace('-', '_').replace('`', '').replace('"', '') -%}
  {{ return("cache table " ~ name ~ " as select case when pw_q.pw_message is not null then raise_error(pw_q.pw_message) end as pipewatch_assert from (" ~ query_sql ~ ") pw_q") }}
{%- endmacro %}

{% macro databricks__raise_if_message(query_sql) -%}
  {{ return(pipewatch.spark__raise_if_message(query_sql)) }}
{%- endmacro %}


{#- A relation of literal rows: `rows` is a list of lists of SQL expressions, `columns` their names and
    `types` (optional) their SQL types. -#}
{% macro rows_relation(rows, columns, types=none) -%}
  {{ return(adapter.dispatch('rows_relation', 'pipewatch')(rows, columns, types)) }}
{%- endmacro %}

{% macro default__rows_relation(rows, columns, types=none) -%}
  {%- set tuples = [] -%}
  {%- for row in rows -%}
    {%- do tuples.append("(" ~ row | join(", ") ~ ")") -%}
  {%- endfor -%}
  {{ return("(values " ~ tuples | join(",\n") ~ ") as pw_rows (" ~ columns | join(", ") ~ ")") }}
{%- endmacro %}

{#- BigQuery has no VALUES list: an UNNEST of STRUCTs, every field cast, because the array's elements
    must share one struct type and a NULL literal alone would be typed INT64. -#}
{% macro bigquery__rows_relation(rows, columns, types=none) -%}
  {%- set structs = [] -%}
  {%- for row in rows -%}
    {%- set fields = [] -%}
    {%- for value in row -%}
      {%- set typed = ("cast(" ~ value ~ " as " ~ types[loop.index0] ~ ")") if types else value -%}
      {%- do fields.append(typed ~ " as " ~ columns[loop.index0]) -%}
    {%- endfor -%}
    {%- do structs.append("struct(" ~ fields | join(", ") ~ ")") -%}
  {%- endfor -%}
  {{ return("unnest([" ~ structs | join(",\n") ~ "]) as pw_rows") }}
{%- endmacro %}
