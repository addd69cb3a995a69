select sum(amount) + 1 as total from {{ ref('stg_x') }}
