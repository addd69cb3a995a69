with orders as (

    select * from {{ ref('stg_orders') }}

),

lines as (

    select
        order_id,
        count(*) as line_count,
        sum(quantity) as units,
        sum(line_amount_cents) as order_total_cents
    from {{ ref('int_order_items_enriched') }}
    group by order_id

),

payments as (

    select * from {{ ref('int_order_payments') }}

)

select
    orders.order_id,
    orders.customer_id,
    orders.order_date,
    orders.status,
    coalesce(lines.line_count, 0) as line_count,
    coalesce(lines.units, 0) as units,
    coalesce(lines.order_total_cents, 0) / 100.0 as order_total,
    coalesce(payments.paid_cents, 0) / 100.0 as amount_paid,
    coalesce(payments.gift_card_cents, 0) / 100.0 as gift_card_amount,
    payments.first_paid_at as paid_at,
    payments.order_id is not null as is_paid
from orders
left join lines
    on orders.order_id = lines.order_id
left join payments
    on orders.order_id = payments.order_id
