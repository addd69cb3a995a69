select id, upper(y) as y_upper from {{ ref('stg_x') }}
