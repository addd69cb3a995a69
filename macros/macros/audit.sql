{#-
  An on-run-end hook that appends the run's results to a `pipewatch_audit` table in the warehouse, so
  teams whose runner keeps no target/ folder still get history (`pipewatch history ingest
  --from-warehouse` reads it back):

    # dbt_project.yml
    on-run-end:
      - "{{ pipewatch.audit() }}"

  One row per node result: the invocation (id, project, target, command, dbt version, adapter, when it
  started and was recorded), the node (unique id, type, name, relation, materialization), and its
  result (status, execution time, rows_affected from the adapter response, failures, message, thread,
  execute start/end). `row_count` is count(*) of each table-like model, seed and snapshot the run built,
  all counted inside the same statement.

  The whole run is ONE insert (a VALUES list joined to one UNION ALL of the counts), never one query per
  node, committed by the hook; only the first run also creates the schema and the table. Arguments:
    schema      where the table lives (default: var('pipewatch_audit_schema', target.schema))
    table_name  default var('pipewatch_audit_table', 'pipewatch_audit')
    row_counts  count(*) the built tables (default true)
-#}

{% macro audit(schema=none, table_name=none, row_counts=true) -%}
  {#- Only on-run-end has `results`; anywhere else (a parse, a model hook) there is nothing to record. -#}
  {%- if not execute or results is not defined or not results -%}
    {{ return("") }}
  {%- endif -%}
  {{ return(adapter.dispatch('audit', 'pipewatch')(schema, table_name, row_counts)) }}
{%- endmacro %}

{#- The audit table's columns and their types (the order of the insert). -#}
{% macro audit_columns() -%}
  {%- set text = pipewatch.text_type() -%}
  {%- set ts = pipewatch.timestamp_type() -%}
  {%- set big = pipewatch.bigint_type() -%}
  {{ return([
    ('invocation_id', text), ('project', text), ('target_name', text), ('command', text),
    ('dbt_version', text), ('adapter_type', text), ('run_started_at', ts), ('recorded_at', ts),
    ('unique_id', text), ('resource_type', text), ('name', text), ('relation', text),
    ('materialized', text), ('status', text), ('execution_time', pipewatch.double_type()),
    ('rows_affected', big), ('row_count', big), ('failures', big), ('message', text),
    ('thread_id', text), ('query_id', text), ('started_at', ts), ('completed_at', ts)
  ]) }}
{%- endmacro %}

{#- Spark targets have no database: the relation is schema.table there. -#}
{% macro audit_relation(schema=none, table_name=none) -%}
  {{ return(api.Relation.create(
      database=(target.database if target.database is defined else none),
      schema=schema or var('pipewatch_audit_schema', target.schema),
      identifier=table_name or var('pipewatch_audit_table', 'pipewatch_audit'))) }}
{%- endmacro %}

{% macro default__audit(schema, table_name, row_counts) -%}
  {%- set relation = pipewatch.audit_relation(schema, table_name) -%}
  {%- set columns = pipewatch.audit_columns() -%}
  {%- if adapter.get_relation(relation.database, relation.schema, relation.identifier) is none -%}
    {%- do adapter.create_schema(relation) -%}
    {%- call statement('pipewatch_audit_table', auto_begin=true) -%}
create table if not exists {{ relation }} (
  {%- for name, type in columns %}
  {{ name }} {{ type }}{{ "," if not loop.last }}
  {%- endfor %}
)
    {%- endcall -%}
    {%- do adapter.commit() -%}
  {%- endif -%}
  {#- Run here rather than returned as the hook's SQL: dbt runs hook SQL outside a transaction it
      tracks, and this way the insert is committed explicitly on every adapter. -#}
  {%- call statement('pipewatch_audit_insert', auto_begin=true) -%}
{{ pipewatch.audit_insert(relation, columns, row_counts) }}
  {%- endcall -%}
  {%- do adapter.commit() -%}
  {{ return("") }}
{%- endmacro %}

{#- The one INSERT recording `results`. -#}
{% macro audit_insert(relation, columns, row_counts=true) -%}
  {%- set q = pipewatch.quote_text -%}
  {%- set recorded = modules.datetime.datetime.now(modules.pytz.utc).replace(tzinfo=none) -%}
  {%- set started = run_started_at.astimezone(modules.pytz.utc).replace(tzinfo=none) -%}
  {%- set run = [q(invocation_id), q(project_name), q(target.name), q(flags.WHICH or ''),
                 q(dbt_version), q(adapter.type()), q(started.isoformat(" ")), q(recorded.isoformat(" "))] -%}
  {#- A macro call costs dbt about a tenth of a millisecond, seconds over a 2,000-node run's values, so
      the literals are built inline with the adapter's escaping (do backslashes escape?) found once. -#}
  {%- set backslashes = q("\\") != "'\\'" -%}
  {%- set rows = [] -%}
  {%- set counts = [] -%}
  {%- for res in results -%}
    {%- set node = res.node -%}
    {%- set response = (res.adapter_response if res.adapter_response is defined else none) or {} -%}
    {%- set execute_timing = (res.timing if res.timing is defined else []) | selectattr('name', 'equalto', 'execute') | list -%}
    {%- set started_at = execute_timing[0].started_at if execute_timing else none -%}
    {%- set completed_at = execute_timing[0].completed_at if execute_timing else none -%}
    {#- Source freshness results carry a source node: no materialization, maybe no failures. -#}
    {%- set materialized = node.config.materialized if node.config is defined and node.config.materialized is defined else none -%}
    {%- set status = res.status | string | lower -%}
    {%- set relation_name = node.relation_name if node.relation_name is defined else none -%}
    {%- set rows_affected = response.get('rows_affected') -%}
    {%- set failures = res.failures if res.failures is defined else none -%}
    {%- set row = run[:] -%}
    {%- for value in [node.unique_id, node.resource_type | string | lower, node.name, relation_name, materialized, status,
                      res.execution_time, rows_affected, failures,
                      (res.message | string)[:500] if res.message is not none else none,
                      res.thread_id, response.get('query_id'),
                      started_at.isoformat(" ") if started_at else none,
                      completed_at.isoformat(" ") if completed_at else none] -%}
      {%- if value is none or (loop.index0 in (6, 7, 8) and (value is not number or value is sameas true or value is sameas false)) -%}
        {%- do row.append("null") -%}
      {%- elif loop.index0 in (6, 7, 8) -%}
        {%- do row.append(value | string) -%}
      {%- elif backslashes -%}
        {%- do row.append("'" ~ (value | string).replace("\\", "\\\\").replace("'", "\\'") ~ "'") -%}
      {%- else -%}
        {%- do row.append("'" ~ (value | string).replace("'", "''") ~ "'") -%}
      {%- endif -%}
    {%- endfor -%}
    {%- do rows.append(row) -%}
    {%- if row_counts and relation_name and status == 'success'
          and (node.resource_type | string | lower) in ('model', 'seed', 'snapshot')
          and materialized in ('table', 'incremental', 'seed', 'snapshot') -%}
      {%- do counts.append("select " ~ row[8] ~ " as pw_unique_id, count(*) as pw_row_count from " ~ relation_name) -%}
    {%- endif -%}
  {%- endfor -%}
  {%- set names = [] -%}
  {%- set types = [] -%}
  {%- for name, type in columns if name != 'row_count' -%}
    {%- do names.append(name) -%}
    {%- do types.append(type) -%}
  {%- endfor -%}
  {%- set selected = [] -%}
  {%- for name, type in columns -%}
    {%- if name == 'row_count' -%}
      {%- do selected.append(("cast(pw_counts.pw_row_count as " ~ type ~ ")") if counts else ("cast(null as " ~ type ~ ")")) -%}
    {%- else -%}
      {%- do selected.append("cast(pw_rows." ~ name ~ " as " ~ type ~ ")") -%}
    {%- endif -%}
  {%- endfor -%}
  {%- set insert -%}
insert into {{ relation }} ({% for name, type in columns %}{{ name }}{{ ", " if not loop.last }}{% endfor %})
select {{ selected | join(", ") }}
from {{ pipewatch.rows_relation(rows, names, types) }}
{%- if counts %}
left join (
{{ counts | join("\nunion all\n") }}
) pw_counts on pw_counts.pw_unique_id = pw_rows.unique_id
{%- endif %}
  {%- endset -%}
  {{ return(insert) }}
{%- endmacro %}
