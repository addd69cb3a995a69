select id, code, attempt_note from {{ ref('flaky') }}
