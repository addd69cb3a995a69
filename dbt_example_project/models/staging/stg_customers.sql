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
        {{ pipewatch.regex_search('lower(trim(email))', '^[^@ ]+@[^@ ]+\\.[a-z]+$') }} as is_valid_email,
        upper(country_code) as country_code,
        created_at,
        _loaded_at
    from source
    where customer_id is not null

)

{%- if faults_enabled() %}

select * from cleaned
{%- else %},

-- the CRM re-sends changed customers: keep the latest version of each
ranked as (

    select
        cleaned.*,
        row_number() over (partition by customer_id order by _loaded_at desc) as version_rank
    from cleaned

)

select
    customer_id, first_name, last_name, full_name, email, is_valid_email, country_code, created_at, _loaded_at
from ranked
where version_rank = 1
{%- endif %}
