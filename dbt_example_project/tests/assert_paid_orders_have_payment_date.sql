-- Singular test: every order with a successful payment carries the time it was paid.
select order_id
from {{ ref('fct_orders') }}
where is_paid and paid_at is null
