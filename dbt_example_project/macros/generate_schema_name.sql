{#- Use custom schema names as they are (raw, staging, marts), not prefixed with the target schema,
    so relations read like a warehouse's: pipewatch_example.raw.raw_orders, pipewatch_example.marts.fct_orders. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
