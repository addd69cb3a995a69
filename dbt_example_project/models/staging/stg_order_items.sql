-- depends_on: {{ ref('raw_order_items') }}

with source as (

    select * from {{ source('shop_raw', 'order_items') }}

)

select
    order_item_id,
    order_id,
    product_id,
    quantity,
    unit_price_cents,
    quantity * unit_price_cents as line_amount_cents
from source
