{#- Fails its post-hook: a customer without an id (an error-severity not_null in meta.pipewatch). -#}
{{ config(post_hook=pipewatch.assert_rules()) }}
select customer_id, name from {{ ref('customers') }}
union all
select null as customer_id, 'ghost' as name
