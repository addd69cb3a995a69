{{ config(materialized='ephemeral') }}
{# Ephemeral: only marts read it, and it is cheap to inline. #}

select
    items.order_item_id,
    items.order_id,
    orders.order_date,
    orders.status as order_status,
    items.product_id,
    products.category,
    items.quantity,
    items.unit_price_cents,
    items.line_amount_cents
from {{ ref('stg_order_items') }} as items
inner join {{ ref('stg_orders') }} as orders
    on items.order_id = orders.order_id
left join {{ ref('stg_products') }} as products
    on items.product_id = products.product_id
