select * from {{ ref('reads_y') }}
