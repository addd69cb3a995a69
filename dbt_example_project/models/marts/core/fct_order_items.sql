select
    order_item_id,
    order_id,
    order_date,
    order_status,
    product_id,
    category,
    quantity,
    unit_price_cents / 100.0 as unit_price,
    line_amount_cents / 100.0 as line_amount
from {{ ref('int_order_items_enriched') }}
