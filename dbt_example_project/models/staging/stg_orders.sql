-- depends_on: {{ ref('raw_orders') }}

with source as (

    select * from {{ source('shop_raw', 'orders') }}

)

select
    order_id,
    customer_id,
    order_date,
    {{ normalize_order_status('status') }} as status,
    _loaded_at
from source
-- abandoned carts are exported without an id
where order_id is not null
