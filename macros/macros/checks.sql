{#-
  The check types of pipewatch's rule files (DESIGN.md "Rule files") as SQL that returns the failing
  rows, counted exactly as pipewatch's rule engine counts them (pipewatch/rules/compiler.py):

    not_null         rows where the column is NULL
    unique           distinct non-NULL values occurring more than once (one row per value)
    accepted_values  distinct non-NULL values outside the list (one row per value)
    range            rows below min / above max (bounds inclusive unless inclusive=false); NULL passes
    matches          rows whose value has no match of the regex anywhere (a search); NULL passes
    relationships    child rows whose non-NULL key has no parent row
    row_count        one row when the row count is outside [min, max]
    freshness        one row when the newest value is older than max_age (or there is none)
    duplicates       rows beyond the first of each key (NULL keys group together)
    expression       rows where the boolean SQL is false; NULL passes

  The generic tests (generic_tests.sql) and the model post-hook (assert_rules.sql) both use
  `failing_rows_sql`, so a check means the same thing in a test, in a post-hook and in rules/*.yml.
  not_null, unique, accepted_values and relationships are dbt's own queries (dispatched in dbt's
  namespace), because pipewatch's counts for them are defined as dbt's.
-#}

{% macro failing_rows_sql(check_type, model, args) -%}
  {{ return(adapter.dispatch('failing_rows_sql', 'pipewatch')(check_type, model, args)) }}
{%- endmacro %}

{% macro default__failing_rows_sql(check_type, model, args) -%}
  {%- if check_type == 'not_null' -%}
    {{ return(adapter.dispatch('test_not_null', 'dbt')(model, args.column)) }}
  {%- elif check_type == 'unique' -%}
    {{ return(adapter.dispatch('test_unique', 'dbt')(model, args.column)) }}
  {%- elif check_type == 'accepted_values' -%}
    {{ return(adapter.dispatch('test_accepted_values', 'dbt')(model, args.column, args['values'], args.get('quote', true))) }}
  {%- elif check_type == 'relationships' -%}
    {{ return(adapter.dispatch('test_relationships', 'dbt')(model, args.column, args.to, args.field)) }}
  {%- elif check_type == 'range' -%}
    {%- set inclusive = args.get('inclusive', true) -%}
    {%- set parts = [] -%}
    {%- if args.get('min') is not none -%}
      {%- do parts.append(args.column ~ (" < " if inclusive else " <= ") ~ pipewatch.sql_value(args.min)) -%}
    {%- endif -%}
    {%- if args.get('max') is not none -%}
      {%- do parts.append(args.column ~ (" > " if inclusive else " >= ") ~ pipewatch.sql_value(args.max)) -%}
    {%- endif -%}
    {{ return("select * from " ~ model ~ " where " ~ parts | join(" or ")) }}
  {%- elif check_type == 'matches' -%}
    {{ return("select * from " ~ model ~ " where not " ~ pipewatch.regex_search(args.column, args.pattern)) }}
  {%- elif check_type == 'expression' -%}
    {{ return("select * from " ~ model ~ " where not (" ~ args.sql ~ ")") }}
  {%- elif check_type == 'row_count' -%}
    {%- set parts = [] -%}
    {%- if args.get('min') is not none -%}{%- do parts.append("pw_rows < " ~ args.min) -%}{%- endif -%}
    {%- if args.get('max') is not none -%}{%- do parts.append("pw_rows > " ~ args.max) -%}{%- endif -%}
    {{ return("select pw_rows from (select count(*) as pw_rows from " ~ model ~ ") pw_count where " ~ parts | join(" or ")) }}
  {%- elif check_type == 'freshness' -%}
    {{ return("select pw_latest from (select max(" ~ args.column ~ ") as pw_latest from " ~ model ~ ") pw_max"
              ~ " where pw_latest is null or " ~ pipewatch.seconds_since("pw_latest") ~ " > " ~ args.max_age_s) }}
  {%- elif check_type == 'duplicates' -%}
    {%- set keys = args.columns | join(", ") -%}
    {{ return("select * from (select *, row_number() over (partition by " ~ keys ~ " order by " ~ keys
              ~ ") as pw_copy from " ~ model ~ ") pw_numbered where pw_copy > 1") }}
  {%- else -%}
    {{ exceptions.raise_compiler_error("pipewatch: unknown check type `" ~ check_type ~ "`") }}
  {%- endif -%}
{%- endmacro %}


{#- A rule-file value as a SQL literal: strings quoted, numbers and booleans as they are, dates cast. -#}
{% macro sql_value(value) -%}
  {%- if value is none -%}
    {{ return("null") }}
  {%- elif value is sameas true or value is sameas false -%}
    {{ return("true" if value else "false") }}
  {%- elif value is number -%}
    {{ return(value | string) }}
  {%- elif value is string -%}
    {{ return(pipewatch.quote_text(value)) }}
  {%- elif value.hour is defined -%}
    {{ return("cast(" ~ pipewatch.quote_text(value.isoformat(" ")) ~ " as " ~ pipewatch.timestamp_type() ~ ")") }}
  {%- elif value.isoformat is defined -%}
    {{ return("cast(" ~ pipewatch.quote_text(value.isoformat()) ~ " as date)") }}
  {%- else -%}
    {{ return(pipewatch.quote_text(value | string)) }}
  {%- endif -%}
{%- endmacro %}


{#- Seconds in a rule-file duration: `90s`, `30m`, `48h`, `2d`, `1w`, `1h30m`, or a number of seconds. -#}
{% macro duration_seconds(text, where='') -%}
  {%- if text is number and not (text is sameas true or text is sameas false) -%}
    {{ return(text) }}
  {%- endif -%}
  {%- set s = (text | string).strip().lower() -%}
  {%- set units = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800} -%}
  {%- if not modules.re.fullmatch("(\\s*\\d+(\\.\\d+)?\\s*[smhdw])+\\s*", s) -%}
    {{ exceptions.raise_compiler_error("pipewatch" ~ where ~ ": bad duration `" ~ text ~ "`: use a number and a unit s, m, h, d or w (e.g. 48h, 2d, 30m)") }}
  {%- endif -%}
  {%- set total = namespace(seconds=0) -%}
  {%- for amount, _fraction, unit in modules.re.findall("(\\d+(\\.\\d+)?)\\s*([smhdw])", s) -%}
    {%- set total.seconds = total.seconds + (amount | float) * units[unit] -%}
  {%- endfor -%}
  {{ return(total.seconds) }}
{%- endmacro %}


{#- The SQL condition on a failing count `count_sql` (and the checked rows' count `total_sql`) that
    breaks a check's thresholds, as pipewatch's scoring.exceeds judges it: more than `max_failures`
    (0 when neither threshold is given), or a ratio above `max_failure_ratio`. -#}
{% macro threshold_condition(count_sql, total_sql, max_failures=none, max_failure_ratio=none) -%}
  {%- set parts = [] -%}
  {%- if max_failures is not none or max_failure_ratio is none -%}
    {%- do parts.append(count_sql ~ " > " ~ (max_failures or 0)) -%}
  {%- endif -%}
  {%- if max_failure_ratio is not none -%}
    {%- do parts.append(count_sql ~ " > " ~ max_failure_ratio ~ " * " ~ total_sql) -%}
  {%- endif -%}
  {{ return("(" ~ parts | join(" or ") ~ ")") }}
{%- endmacro %}


{#- The table a rule file's relationships `to:` names: a model name, {model: x}, {source: 'a.b'} or
    {relation: 'db.schema.t'}. A dbt ref()/source() passed in (as dbt's own relationships test takes
    it) is used as it is. `use_ref` false resolves models through the graph instead of ref(), for
    hooks rendered at run time. -#}
{% macro resolve_parent(to, use_ref=true) -%}
  {%- if to is not string and to.render is defined -%}
    {{ return(to) }}
  {%- elif to is string -%}
    {{ return(pipewatch.model_relation(to, use_ref)) }}
  {%- elif to is mapping -%}
    {%- if to.get('model') -%}
      {{ return(pipewatch.model_relation(to.model, use_ref)) }}
    {%- elif to.get('source') -%}
      {%- set parts = (to.source | string).split('.') -%}
      {%- if parts | length != 2 -%}
        {{ exceptions.raise_compiler_error("pipewatch: relationships `to: {source: " ~ to.source ~ "}` must be `source_name.table_name`") }}
      {%- endif -%}
      {{ return(source(parts[0], parts[1])) }}
    {%- elif to.get('relation') -%}
      {{ return(to.relation) }}
    {%- endif -%}
    {{ exceptions.raise_compiler_error("pipewatch: relationships `to` needs one of model, source or relation") }}
  {%- endif -%}
  {{ return(to) }}
{%- endmacro %}

{% macro model_relation(name, use_ref=true) -%}
  {%- if use_ref -%}
    {{ return(ref(name)) }}
  {%- endif -%}
  {%- for node in graph.nodes.values() -%}
    {%- if node.resource_type in ('model', 'seed', 'snapshot') and node.name == name -%}
      {{ return(api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias or node.name)) }}
    {%- endif -%}
  {%- endfor -%}
  {{ exceptions.raise_compiler_error("pipewatch: relationships `to: " ~ name ~ "`: no model, seed or snapshot of that name") }}
{%- endmacro %}
