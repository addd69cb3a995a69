select count(*) as n from {{ ref('customers_checked') }}
