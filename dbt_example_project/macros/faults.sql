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
