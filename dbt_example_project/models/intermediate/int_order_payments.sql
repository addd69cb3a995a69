{{ config(group='finance', meta={'owner': 'finance-data@shop.example'}, tags=['finance']) }}

select
    order_id,
    count(*) as payment_count,
    sum(amount_cents) as paid_cents,
    sum(case when payment_method = 'gift_card' then amount_cents else 0 end) as gift_card_cents,
    min(created_at) as first_paid_at
from {{ ref('stg_payments') }}
where status = 'success'
group by order_id
