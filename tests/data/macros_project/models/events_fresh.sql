select 1 as id, {{ pipewatch.current_ts() }} as loaded_at
