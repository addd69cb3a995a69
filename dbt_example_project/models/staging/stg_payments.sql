-- depends_on: {{ ref('raw_payments') }}
{{ config(
    materialized='table',
    tags=['finance', 'pii'],
    meta={'owner': 'finance-data@shop.example'},
    group='finance'
) }}
{# A table, not a view: amounts are parsed once here rather than in every query that reads them.
    With inject_faults on, the strict parse hits the provider's 'N/A' row: a real DuckDB
    conversion error at build time (README.md). #}

with source as (

    select * from {{ source('shop_raw', 'payments') }}

),

parsed as (

    select
        payment_id,
        order_id,
        lower(payment_method) as payment_method,
        {{ parse_cents('amount_cents') }} as amount_cents,
        status,
        created_at
    from source

)

select
    payment_id,
    order_id,
    payment_method,
    amount_cents,
    amount_cents / 100.0 as amount,
    status,
    created_at
from parsed
where amount_cents is not null
