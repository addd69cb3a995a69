{{ config(tags=['slow']) }}
{# Daily stock, demand over the trailing 7 days (mean and 95th percentile, from the hourly
   snapshots) and days of cover per product and warehouse. The second heaviest model, downstream
   of the first: together they form the build's critical path. #}

with windowed as (

    select
        product_id,
        warehouse_id,
        warehouse_code,
        snapshot_at,
        units_sold,
        stock_on_hand,
        avg(units_sold) over trailing_week as avg_hourly_units_7d,
        {{ window_quantile_state('units_sold', 0.95, 'trailing_week') }} as p95_state
    from {{ ref('fct_inventory_snapshots') }}
    window trailing_week as (
        partition by product_id, warehouse_id
        order by snapshot_at
        rows between 167 preceding and current row
    )

),

hourly as (

    select
        product_id,
        warehouse_id,
        warehouse_code,
        snapshot_at,
        units_sold,
        stock_on_hand,
        avg_hourly_units_7d,
        {{ window_quantile_final('p95_state', 0.95) }} as p95_hourly_units_7d
    from windowed

),

daily as (

    select
        product_id,
        warehouse_id,
        warehouse_code,
        cast(snapshot_at as date) as snapshot_date,
        sum(units_sold) as units_sold,
        min(stock_on_hand) as min_stock,
        {{ value_at_max('stock_on_hand', 'snapshot_at') }} as closing_stock,
        {{ value_at_max('avg_hourly_units_7d', 'snapshot_at') }} * 24 as avg_daily_units_7d,
        {{ value_at_max('p95_hourly_units_7d', 'snapshot_at') }} * 24 as p95_daily_units_7d
    from hourly
    group by product_id, warehouse_id, warehouse_code, cast(snapshot_at as date)

)

select
    product_id,
    warehouse_id,
    warehouse_code,
    snapshot_date,
    units_sold,
    min_stock,
    closing_stock,
    avg_daily_units_7d,
    p95_daily_units_7d,
    case when avg_daily_units_7d > 0 then closing_stock / avg_daily_units_7d end as days_of_cover,
    -- reorder when stock would not survive two days of peak (p95) demand
    closing_stock < 2 * coalesce(p95_daily_units_7d, 0) as needs_reorder
from daily
