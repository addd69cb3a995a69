{% if var('v2', false) %}
select 1 as id, 'ten' as amount, 'k' as keep, true as added_col
{% else %}
select 1 as id, 'a' as y, 10 as amount, 'k' as keep
{% endif %}
