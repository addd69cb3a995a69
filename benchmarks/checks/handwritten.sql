-- The expert's lower bound: one SELECT computing every check's number. The row-level checks share one
-- aggregate pass over `orders`; `unique` and `duplicates` each take a GROUP BY; `relationships` is the
-- one anti-join. Counts follow dbt's semantics (unique / accepted_values count distinct values).
-- name: handwritten
SELECT *
FROM (
    SELECT
        CASE WHEN count(*) < 1 THEN 1 ELSE 0 END AS row_count,
        count(*) - count(order_id) AS not_null_order_id,
        count(*) - count(customer_id) AS not_null_customer_id,
        count(DISTINCT CASE WHEN status NOT IN ('placed', 'shipped', 'completed', 'returned') THEN status END)
            AS accepted_values_status,
        count(CASE WHEN amount < 0 OR amount > 100000 THEN 1 END) AS range_amount,
        count(CASE WHEN quantity < 1 OR quantity > 100 THEN 1 END) AS range_quantity,
        count(CASE WHEN NOT regexp_matches(email, '^[^@ ]+@[^@ ]+\.[a-z]+$') THEN 1 END) AS matches_email,
        CASE WHEN max(created_at) < CAST(now() AS TIMESTAMP) - INTERVAL 48 HOUR THEN 1 ELSE 0 END
            AS freshness_created_at,
        count(CASE WHEN NOT (status <> 'completed' OR paid_at IS NOT NULL) THEN 1 END) AS completed_orders_are_paid
    FROM orders
) AS flat
CROSS JOIN (
    SELECT count(*) AS unique_order_id
    FROM (SELECT order_id FROM orders WHERE order_id IS NOT NULL GROUP BY order_id HAVING count(*) > 1)
) AS uniq
CROSS JOIN (
    SELECT coalesce(sum(n - 1), 0) AS duplicates_order_line
    FROM (SELECT count(*) AS n FROM orders GROUP BY order_id, line_no HAVING count(*) > 1)
) AS dup
CROSS JOIN (
    SELECT count(*) AS relationships_customer_id
    FROM orders AS o
    ANTI JOIN customers AS c ON o.customer_id = c.customer_id
    WHERE o.customer_id IS NOT NULL
) AS rel
