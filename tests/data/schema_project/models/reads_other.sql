select id, keep from {{ ref('stg_x') }}
