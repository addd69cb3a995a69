with customers as (

    select * from {{ ref('stg_customers') }}

),

history as (

    select * from {{ ref('int_customer_order_history') }}

),

regions as (

    select * from {{ ref('country_regions') }}

)

select
    customers.customer_id,
    customers.full_name,
    customers.email,
    customers.is_valid_email,
    customers.country_code,
    coalesce(regions.region, 'Unknown') as region,
    customers.created_at,
    history.first_order_date,
    history.last_order_date,
    coalesce(history.order_count, 0) as order_count,
    coalesce(history.completed_order_count, 0) as completed_order_count
from customers
left join history
    on customers.customer_id = history.customer_id
left join regions
    on customers.country_code = regions.country_code
