select
    order_date,
    count(*) as orders,
    count(*) filter (where is_paid) as paid_orders,
    sum(order_total) as gross_revenue,
    sum(amount_paid) as collected,
    sum(case when status = 'returned' then order_total else 0 end) as returned_revenue
from {{ ref('fct_orders') }}
where status <> 'cancelled'
group by order_date
