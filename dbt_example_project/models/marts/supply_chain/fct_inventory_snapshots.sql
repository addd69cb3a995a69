{{ config(tags=['slow'], pre_hook="{{ slow_down() }}") }}
{# Hourly stock per product and warehouse, replayed from the demand seen in order lines. About 1.6M
    rows: deliberately the heaviest model, so the build has a real critical path. #}

with demand as (

    select
        product_id,
        sum(greatest(quantity, 0)) / 150.0 as units_per_day
    from {{ ref('fct_order_items') }}
    group by product_id

),

warehouses as (

    select * from (values (1, 'AMS'), (2, 'NYC'), (3, 'TYO'), (4, 'SAO'), (5, 'FRA'), (6, 'CHI'), (7, 'SYD'), (8, 'LON')) as w (warehouse_id, warehouse_code)

),

hours as (

    select * from {{ hourly_series(inventory_start(), '2024-06-01 00:00:00') }}

),

movements as (

    select
        demand.product_id,
        warehouses.warehouse_id,
        warehouses.warehouse_code,
        hours.snapshot_at,
        -- pseudo-random but deterministic hourly sales around the observed demand
        round(demand.units_per_day / 24.0 * 40 * {{ noise_1000('demand.product_id', 'warehouses.warehouse_id', 'hours.snapshot_at') }} / 1000.0) as units_sold,
        -- weekly replenishment on Monday 06:00
        case
            when {{ iso_weekday('hours.snapshot_at') }} = 1 and extract(hour from hours.snapshot_at) = 6
                then ceil(demand.units_per_day * 7 * 20 + 5)
            else 0
        end as units_received
    from demand
    cross join warehouses
    cross join hours

)

select
    product_id,
    warehouse_id,
    warehouse_code,
    snapshot_at,
    units_sold,
    units_received,
    greatest(
        0,
        20 + sum(units_received - units_sold) over (
            partition by product_id, warehouse_id
            order by snapshot_at
            rows between unbounded preceding and current row
        )
    ) as stock_on_hand
from movements
