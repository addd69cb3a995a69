-- Singular test: the forecast has exactly one row per product, warehouse and day.
select
    product_id,
    warehouse_id,
    snapshot_date,
    count(*) as rows_per_day
from {{ ref('rpt_inventory_forecast') }}
group by product_id, warehouse_id, snapshot_date
having count(*) > 1
