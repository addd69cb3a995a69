-- depends_on: {{ ref('raw_products') }}

with source as (

    select * from {{ source('shop_raw', 'products') }}

)

select
    product_id,
    sku,
    product_name,
    category,
    unit_price_cents,
    unit_price_cents / 100.0 as unit_price,
    is_active
from source
