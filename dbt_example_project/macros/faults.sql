{#- The planted faults (README.md) all switch on this one var so a clean run is one flag away. -#}
{% macro faults_enabled() -%}
    {{ return(var('inject_faults', true) in [true, 'true', 'True', 1, '1']) }}
{%- endmacro %}

{#- Parse a text column of whole cents. A strict cast is what the 2024-06 refactor shipped: one
    unparseable value ('N/A') fails the whole model with a DuckDB conversion error. The fixed
    version uses a try-parse (macros/portable.sql) and lets staging drop the unparseable rows. -#}
{% macro parse_cents(column) -%}
    {%- if faults_enabled() -%}
        {{ strict_parse_int(column) }}
    {%- else -%}
        {{ try_parse_int(column) }}
    {%- endif -%}
{%- endmacro %}

{#- Map the storefront's and the carrier feed's status spellings onto ours. With faults on, the
    carrier mapping is missing, so 'lost_in_transit' leaks through and the status test warns. -#}
{% macro normalize_order_status(column) -%}
    case
        {%- if not faults_enabled() %}
        when lower(trim({{ column }})) = 'lost_in_transit' then 'returned'
        {%- endif %}
        when lower(trim({{ column }})) = 'canceled' then 'cancelled'
        else lower(trim({{ column }}))
    end
{%- endmacro %}

{#- `--vars '{slow_model_s: 3}'` makes fct_inventory_snapshots take at least that many seconds (a
    pre-hook waits), so live-monitoring tests see the build go on after the first failure. DuckDB
    has no sleep function and dbt's Jinja no `time` module: the wait polls the clock. Default 0. -#}
{% macro slow_down() -%}
    {%- set seconds = var('slow_model_s', 0) | float -%}
    {%- if execute and seconds > 0 -%}
        {%- set dt = modules.datetime -%}
        {%- set until = dt.datetime.now() + dt.timedelta(seconds=seconds) -%}
        {%- for _ in range(100000) -%}
            {%- for _ in range(100000) -%}
                {%- if dt.datetime.now() >= until -%}{%- break -%}{%- endif -%}
            {%- endfor -%}
            {%- if dt.datetime.now() >= until -%}{%- break -%}{%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}
