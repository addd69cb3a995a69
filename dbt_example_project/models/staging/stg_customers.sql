-- depends_on: {{ ref('raw_customers') }}
{# The seed is this project's loader: the hint above makes dbt build it before this view. #}

with source as (

    select * from {{ source('shop_raw', 'customers') }}

),

cleaned as (

    select
        customer_id,
        first_name,
        last_name,
        first_name || ' ' || last_name as full_name,
        lower(trim(email)) as email,
        regexp_matches(lower(trim(email)), '^[^@ ]+@[^@ ]+\.[a-z]+$') as is_valid_email,
        upper(country_code) as country_code,
        created_at,
        _loaded_at
    from source
    where customer_id is not null

)

select * from cleaned
{%- if not faults_enabled() %}
-- the CRM re-sends changed customers: keep the latest version of each
qualify row_number() over (partition by customer_id order by _loaded_at desc) = 1
{%- endif %}
