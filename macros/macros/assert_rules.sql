{#-
  A model post-hook that fails the model when one of its error-severity checks fails, so a bad table
  stops its children:

    {{ config(post_hook=pipewatch.assert_rules()) }}        -- in the model, or in YAML:
    config: {post_hook: "{{ pipewatch.assert_rules() }}"}

  The checks come from the model's `meta.pipewatch`: a rule file table's `checks:` list (DESIGN.md), or
  a mapping with `checks:` and an optional `where:` filter.

    config:
      meta:
        pipewatch:
          checks:
            - not_null: [order_id, customer_id]
            - range: {column: amount, min: 0}
            - row_count: {min: 1, severity: warn}     # warn checks never fail the model

  One statement counts every error-severity check (the same failing rows as the generic tests) and, when
  a threshold is broken, raises with a message naming each failed check and its count (per adapter:
  error() on DuckDB, RAISE in a DO block on PostgreSQL, ERROR() on BigQuery, raise_error() on Spark, a
  failed cast elsewhere). Hooks run inside the model's transaction where the adapter has one, so there
  the failed table is rolled back too.
-#}

{% macro assert_rules() -%}
  {#- At parse time the model's meta is not complete yet: defer to a hook rendered when it runs. -#}
  {%- if not execute -%}
    {{ return("{{ pipewatch.assert_rules() }}") }}
  {%- endif -%}
  {{ return(adapter.dispatch('assert_rules', 'pipewatch')()) }}
{%- endmacro %}

{% macro default__assert_rules() -%}
  {%- set spec = pipewatch.meta_checks() -%}
  {%- if spec is none -%}
    {{ return("") }}
  {%- endif -%}
  {%- set label = "pipewatch: " ~ model.get('unique_id', this | string) ~ " meta.pipewatch" -%}
  {%- set where = none -%}
  {%- set items = spec -%}
  {%- if spec is mapping -%}
    {%- set unknown = spec.keys() | reject('in', ['checks', 'where']) | list -%}
    {%- if unknown -%}
      {{ exceptions.raise_compiler_error(label ~ ": unknown key `" ~ unknown[0] ~ "` (allowed: checks, where)") }}
    {%- endif -%}
    {%- set items = spec.get('checks') -%}
    {%- set where = spec.get('where') -%}
  {%- endif -%}
  {%- set checks = pipewatch.parse_checks(items, label) -%}
  {%- set relation = this if where is none else "(select * from " ~ this ~ " where " ~ where ~ ") pw_where" -%}
  {%- set counts = [] -%}
  {%- set conditions = [] -%}
  {%- set parts = [] -%}
  {%- for check in checks if check.severity == 'error' -%}
    {%- set count = "pw_c" ~ loop.index0 -%}
    {%- set failing = pipewatch.failing_rows_sql(check.type, relation, check.args) -%}
    {%- do counts.append("(select count(*) from (" ~ failing ~ ") pw_f) as " ~ count) -%}
    {%- if check.type in ('row_count', 'freshness') -%}
      {%- set condition = "(" ~ count ~ " > 0)" -%}
      {%- set detail = pipewatch.quote_text(" [" ~ check.name ~ ": failed]") -%}
    {%- else -%}
      {%- set condition = pipewatch.threshold_condition(count, "pw_total", check.max_failures, check.max_failure_ratio) -%}
      {%- set detail = pipewatch.quote_text(" [" ~ check.name ~ ": ") ~ " || cast(" ~ count ~ " as " ~ pipewatch.text_type() ~ ") || "
                       ~ pipewatch.quote_text(" failing " ~ check.unit ~ "]") -%}
    {%- endif -%}
    {%- do conditions.append(condition) -%}
    {%- do parts.append("case when " ~ condition ~ " then " ~ detail ~ " else '' end") -%}
  {%- endfor -%}
  {%- if not conditions -%}
    {{ return("") }}
  {%- endif -%}
  {%- set prefix = pipewatch.quote_text("pipewatch: " ~ this ~ " failed error-severity checks:") -%}
  {%- set query -%}
select case when {{ conditions | join(" or ") }} then {{ prefix }} || {{ parts | join(" || ") }} end as pw_message
from (select {{ counts | join(", ") }}, (select count(*) from {{ relation }}) as pw_total) pw_counts
  {%- endset -%}
  {{ return(pipewatch.raise_if_message(query)) }}
{%- endmacro %}

{#- The model's meta.pipewatch (None when it has none). -#}
{% macro meta_checks() -%}
  {%- set meta = config.get('meta') or {} -%}
  {%- set spec = meta.get('pipewatch') if meta is mapping else none -%}
  {%- if spec is none and model is mapping -%}
    {%- set spec = (model.get('meta') or {}).get('pipewatch') -%}
  {%- endif -%}
  {{ return(spec or none) }}
{%- endmacro %}


{#- A rule file's `checks:` list as dicts {type, name, severity, max_failures, max_failure_ratio, unit,
    args}, validated the way pipewatch's loader validates it; `label` says where the list came from. -#}
{% macro parse_checks(items, label='pipewatch') -%}
  {%- set types = ['not_null', 'unique', 'accepted_values', 'range', 'matches', 'relationships',
                   'row_count', 'freshness', 'duplicates', 'expression'] -%}
  {%- set common = ['name', 'severity', 'max_failures', 'max_failure_ratio', 'max_ratio', 'weight'] -%}
  {%- if items is string or items is mapping or items is not iterable or not items -%}
    {{ exceptions.raise_compiler_error(label ~ ": `checks` must be a non-empty list") }}
  {%- endif -%}
  {%- set out = [] -%}
  {%- for item in items -%}
    {%- set where = label ~ ", check " ~ loop.index -%}
    {%- if item is not mapping or not item -%}
      {{ exceptions.raise_compiler_error(where ~ ": a check is a mapping `<type>: <arguments>` (e.g. `- not_null: order_id`)") }}
    {%- endif -%}
    {%- set kinds = item.keys() | select('in', types) | list -%}
    {%- if kinds | length != 1 -%}
      {%- set unknown = item.keys() | reject('in', common) | list -%}
      {{ exceptions.raise_compiler_error(where ~ ": " ~ ("one check per list item" if kinds else "unknown check type `" ~ (unknown | first) ~ "` (known: " ~ types | join(", ") ~ ")")) }}
    {%- endif -%}
    {%- set kind = kinds[0] -%}
    {%- set value = item[kind] -%}
    {%- set opts = {} -%}
    {%- set args = {} -%}
    {%- for key, v in item.items() if key != kind -%}
      {%- if key not in common -%}
        {{ exceptions.raise_compiler_error(where ~ ": " ~ kind ~ ": unknown key `" ~ key ~ "`") }}
      {%- endif -%}
      {%- do opts.update({key: v}) -%}
    {%- endfor -%}
    {%- if value is mapping -%}
      {%- for key, v in value.items() -%}
        {%- do (opts if key in common else args).update({key: v}) -%}
      {%- endfor -%}
    {%- elif kind in ('not_null', 'unique') -%}
      {%- do args.update({'columns': value}) -%}
    {%- elif kind == 'expression' -%}
      {%- do args.update({'sql': value}) -%}
    {%- else -%}
      {{ exceptions.raise_compiler_error(where ~ ": " ~ kind ~ ": arguments must be a mapping") }}
    {%- endif -%}
    {%- set severity = (opts.get('severity') or 'error') | lower -%}
    {%- if severity not in ('error', 'warn') -%}
      {{ exceptions.raise_compiler_error(where ~ ": " ~ kind ~ ": severity must be `error` or `warn` (got `" ~ opts.severity ~ "`)") }}
    {%- endif -%}
    {%- set ratio = opts.get('max_failure_ratio', opts.get('max_ratio')) -%}
    {%- set base = {'type': kind, 'severity': severity, 'max_failures': opts.get('max_failures'),
                    'max_failure_ratio': ratio, 'unit': 'values' if kind in ('unique', 'accepted_values') else 'rows'} -%}
    {%- if kind in ('not_null', 'unique') -%}
      {%- set cols = args.get('columns', args.get('column')) -%}
      {%- set cols = [cols] if cols is string else cols -%}
      {%- if not cols -%}
        {{ exceptions.raise_compiler_error(where ~ ": " ~ kind ~ ": give a column or a list of columns") }}
      {%- endif -%}
      {%- for col in cols -%}
        {%- do out.append(dict(base, name=opts.get('name') or kind ~ "(" ~ col ~ ")", args={'column': col})) -%}
      {%- endfor -%}
    {%- else -%}
      {%- set need = {'accepted_values': ['column', 'values'], 'range': ['column'], 'matches': ['column', 'pattern'],
                      'relationships': ['column', 'to'], 'row_count': [], 'freshness': ['column', 'max_age'],
                      'duplicates': [], 'expression': ['sql']}[kind] -%}
      {%- for key in need if args.get(key) is none -%}
        {{ exceptions.raise_compiler_error(where ~ ": " ~ kind ~ ": missing key `" ~ key ~ "`") }}
      {%- endfor -%}
      {%- if kind == 'relationships' -%}
        {%- do args.update({'to': pipewatch.resolve_parent(args.to, use_ref=false), 'field': args.get('field') or args.column}) -%}
        {%- set name = "relationships(" ~ args.column ~ " -> " ~ args.to ~ "." ~ args.field ~ ")" -%}
      {%- elif kind == 'freshness' -%}
        {%- do args.update({'max_age_s': pipewatch.duration_seconds(args.max_age, " " ~ where)}) -%}
        {%- set name = "freshness(" ~ args.column ~ ")" -%}
      {%- elif kind == 'duplicates' -%}
        {%- set cols = args.get('columns', args.get('column')) -%}
        {%- do args.update({'columns': [cols] if cols is string else cols}) -%}
        {%- set name = "duplicates(" ~ args.columns | join(", ") ~ ")" -%}
      {%- elif kind in ('range', 'row_count') and args.get('min') is none and args.get('max') is none -%}
        {{ exceptions.raise_compiler_error(where ~ ": " ~ kind ~ ": give `min`, `max` or both") }}
      {%- elif kind == 'row_count' -%}
        {%- set name = "row_count" -%}
      {%- elif kind == 'expression' -%}
        {%- set name = "expression(" ~ args.sql.split() | join(" ") ~ ")" -%}
      {%- else -%}
        {%- set name = kind ~ "(" ~ args.column ~ ")" -%}
      {%- endif -%}
      {%- do out.append(dict(base, name=opts.get('name') or name, args=args)) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(out) }}
{%- endmacro %}
