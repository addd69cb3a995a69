-- One query per check, each the plain SQL a data engineer would write for it (counts as dbt counts
-- them). run_sql.py runs them one after another on one connection.

-- name: not_null_order_id
SELECT count(*) AS not_null_order_id FROM orders WHERE order_id IS NULL;

-- name: not_null_customer_id
SELECT count(*) AS not_null_customer_id FROM orders WHERE customer_id IS NULL;

-- name: unique_order_id
SELECT count(*) AS unique_order_id
FROM (SELECT order_id FROM orders WHERE order_id IS NOT NULL GROUP BY order_id HAVING count(*) > 1);

-- name: accepted_values_status
SELECT count(*) AS accepted_values_status
FROM (
    SELECT status FROM orders
    WHERE status NOT IN ('placed', 'shipped', 'completed', 'returned')
    GROUP BY status
);

-- name: range_amount
SELECT count(*) AS range_amount FROM orders WHERE amount < 0 OR amount > 100000;

-- name: range_quantity
SELECT count(*) AS range_quantity FROM orders WHERE quantity < 1 OR quantity > 100;

-- name: matches_email
SELECT count(*) AS matches_email FROM orders WHERE NOT regexp_matches(email, '^[^@ ]+@[^@ ]+\.[a-z]+$');

-- name: relationships_customer_id
SELECT count(*) AS relationships_customer_id
FROM orders AS o
ANTI JOIN customers AS c ON o.customer_id = c.customer_id
WHERE o.customer_id IS NOT NULL;

-- name: row_count
SELECT CASE WHEN count(*) < 1 THEN 1 ELSE 0 END AS row_count FROM orders;

-- name: freshness_created_at
SELECT CASE WHEN max(created_at) < CAST(now() AS TIMESTAMP) - INTERVAL 48 HOUR THEN 1 ELSE 0 END
    AS freshness_created_at
FROM orders;

-- name: duplicates_order_line
SELECT coalesce(sum(n - 1), 0) AS duplicates_order_line
FROM (SELECT count(*) AS n FROM orders GROUP BY order_id, line_no HAVING count(*) > 1);

-- name: completed_orders_are_paid
SELECT count(*) AS completed_orders_are_paid
FROM orders
WHERE NOT (status <> 'completed' OR paid_at IS NOT NULL);
