with products as (

    select * from {{ ref('stg_products') }}

),

sold as (

    select
        product_id,
        sum(quantity) as units_sold,
        count(distinct order_id) as order_count
    from {{ ref('int_order_items_enriched') }}
    where order_status not in ('cancelled')
    group by product_id

)

select
    products.product_id,
    products.sku,
    products.product_name,
    products.category,
    products.unit_price,
    products.is_active,
    coalesce(sold.units_sold, 0) as units_sold,
    coalesce(sold.order_count, 0) as order_count
from products
left join sold
    on products.product_id = sold.product_id
