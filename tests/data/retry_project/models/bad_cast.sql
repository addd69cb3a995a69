-- With `break_cast`, a word is cast to an integer: a data error that fails the same way every time.
select
    id,
    {% if var('break_cast') %}cast('not a number' as integer){% else %}id * 10{% endif %} as amount
from {{ ref('base') }}
