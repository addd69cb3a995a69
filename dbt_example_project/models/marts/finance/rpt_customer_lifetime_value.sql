with customers as (

    select * from {{ ref('dim_customers') }}

),

orders as (

    select
        customer_id,
        sum(amount_paid) as lifetime_paid,
        sum(case when status = 'returned' then order_total else 0 end) as lifetime_returned
    from {{ ref('fct_orders') }}
    group by customer_id

)

select
    customers.customer_id,
    customers.full_name,
    customers.region,
    customers.first_order_date,
    customers.order_count,
    coalesce(orders.lifetime_paid, 0) as lifetime_paid,
    coalesce(orders.lifetime_returned, 0) as lifetime_returned,
    coalesce(orders.lifetime_paid, 0) - coalesce(orders.lifetime_returned, 0) as lifetime_value
from customers
left join orders
    on customers.customer_id = orders.customer_id
