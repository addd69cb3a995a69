-- fused: analytics.main.orders
WITH "pw__grouped1_groups" AS MATERIALIZED (
  SELECT
    *
  FROM (
    SELECT
      "order_id",
      COUNT(*) AS "pw__n"
    FROM "analytics"."main"."orders"
    WHERE
      created_at >= CAST('2026-01-01' AS DATE)
    GROUP BY
      "order_id"
  ) AS pw__g
  WHERE
    "order_id" IS NULL OR "pw__n" > 1
)
SELECT
  *
FROM (
  SELECT
    COUNT(*) AS total,
    COUNT(CASE WHEN "customer_id" IS NULL THEN 1 END) AS c1,
    COUNT(
      CASE WHEN NOT "status" IN ('placed', 'shipped', 'completed', 'returned') THEN 1 END
    ) AS c2,
    COUNT(CASE WHEN "amount" < 0 OR "amount" > 100000 THEN 1 END) AS c3,
    COUNT(CASE WHEN NOT REGEXP_MATCHES("email", '^[^@ ]+@[^@ ]+\.[a-z]+$') THEN 1 END) AS c4,
    COUNT(
      CASE
        WHEN NOT "customer_id" IS NULL
        AND NOT "customer_id" IN (
          SELECT
            "pw__p0"."customer_id"
          FROM "analytics"."main"."customers" AS "pw__p0"
          WHERE
            NOT "pw__p0"."customer_id" IS NULL
        )
        THEN 1
      END
    ) AS c5,
    MAX("created_at") AS c6,
    COUNT(CASE WHEN NOT (
      status <> 'paid' OR NOT paid_at IS NULL
    ) THEN 1 END) AS c7
  FROM "analytics"."main"."orders"
  WHERE
    created_at >= CAST('2026-01-01' AS DATE)
) AS pw__flat
CROSS JOIN (
  SELECT
    SUM(CASE WHEN "order_id" IS NULL THEN "pw__n" END) AS c8,
    COUNT(CASE WHEN "pw__n" > 1 AND NOT "order_id" IS NULL THEN 1 END) AS c9,
    SUM(CASE WHEN "pw__n" > 1 AND NOT "order_id" IS NULL THEN "pw__n" END) AS c10,
    ARG_MAX({'k0': "order_id", 'n': "pw__n"}, "pw__n", 5) FILTER(WHERE
      "pw__n" > 1 AND NOT "order_id" IS NULL) AS c11
  FROM "pw__grouped1_groups" AS pw__g
  WHERE
    "order_id" IS NULL OR "pw__n" > 1
) AS pw__grouped1
CROSS JOIN (
  SELECT
    SUM(CASE WHEN "pw__n" > 1 THEN "pw__n" - 1 END) AS c12,
    SUM(CASE WHEN "pw__n" > 1 THEN "pw__n" END) AS c13,
    ARG_MAX({'k0': "order_id", 'k1': "line_no", 'n': "pw__n"}, "pw__n", 5) FILTER(WHERE
      "pw__n" > 1) AS c14
  FROM (
    SELECT
      "order_id",
      "line_no",
      COUNT(*) AS "pw__n"
    FROM "analytics"."main"."orders"
    WHERE
      created_at >= CAST('2026-01-01' AS DATE)
      AND EXISTS(
        SELECT
          1
        FROM "pw__grouped1_groups" AS "pw__s"
        WHERE
          "pw__s"."pw__n" > 1
          AND "pw__s"."order_id" IS NOT DISTINCT FROM "orders"."order_id"
      )
    GROUP BY
      "order_id",
      "line_no"
  ) AS pw__g
  WHERE
    "pw__n" > 1
) AS pw__grouped2
;
-- fused: analytics.main.customers
SELECT
  *
FROM (
  SELECT
    COUNT(*) AS total,
    COUNT(CASE WHEN "signup_date" < CAST('2020-01-01' AS DATE) THEN 1 END) AS c1
  FROM "analytics"."main"."customers"
) AS pw__flat
CROSS JOIN (
  SELECT
    COUNT(CASE WHEN "pw__n" > 1 AND NOT "customer_id" IS NULL THEN 1 END) AS c2,
    SUM(CASE WHEN "pw__n" > 1 AND NOT "customer_id" IS NULL THEN "pw__n" END) AS c3,
    ARG_MAX({'k0': "customer_id", 'n': "pw__n"}, "pw__n", 5) FILTER(WHERE
      "pw__n" > 1 AND NOT "customer_id" IS NULL) AS c4,
    SUM(CASE WHEN "customer_id" IS NULL THEN "pw__n" END) AS c5
  FROM (
    SELECT
      "customer_id",
      COUNT(*) AS "pw__n"
    FROM "analytics"."main"."customers"
    GROUP BY
      "customer_id"
  ) AS pw__g
  WHERE
    "pw__n" > 1 OR "customer_id" IS NULL
) AS pw__grouped
;
-- follow-up: accepted_values(status)
SELECT
  "value",
  "n",
  COUNT(*) OVER () AS "distinct_values"
FROM (
  SELECT
    "status" AS "value",
    COUNT(*) AS "n"
  FROM "analytics"."main"."orders"
  WHERE
    created_at >= CAST('2026-01-01' AS DATE)
    AND NOT "status" IN ('placed', 'shipped', 'completed', 'returned')
  GROUP BY
    "status"
) AS pw__v
ORDER BY
  "n" DESC
LIMIT 5
;
-- samples: matches(email)
SELECT
  CASE WHEN LENGTH(CAST("email" AS TEXT)) > 200 THEN NULL ELSE "email" END AS "email",
  CASE
    WHEN LENGTH(CAST("email" AS TEXT)) > 200
    THEN SUBSTRING(CAST("email" AS TEXT), 1, 200)
  END AS "pw__cut0",
  CASE WHEN LENGTH(CAST("order_id" AS TEXT)) > 200 THEN NULL ELSE "order_id" END AS "order_id",
  CASE
    WHEN LENGTH(CAST("order_id" AS TEXT)) > 200
    THEN SUBSTRING(CAST("order_id" AS TEXT), 1, 200)
  END AS "pw__cut1",
  CASE WHEN LENGTH(CAST("customer_id" AS TEXT)) > 200 THEN NULL ELSE "customer_id" END AS "customer_id",
  CASE
    WHEN LENGTH(CAST("customer_id" AS TEXT)) > 200
    THEN SUBSTRING(CAST("customer_id" AS TEXT), 1, 200)
  END AS "pw__cut2"
FROM "analytics"."main"."orders"
WHERE
  created_at >= CAST('2026-01-01' AS DATE)
  AND NOT REGEXP_MATCHES("email", '^[^@ ]+@[^@ ]+\.[a-z]+$')
LIMIT 5
;
-- samples: relationships(customer_id -> analytics.main.customers.customer_id)
SELECT
  CASE WHEN LENGTH(CAST("customer_id" AS TEXT)) > 200 THEN NULL ELSE "customer_id" END AS "customer_id",
  CASE
    WHEN LENGTH(CAST("customer_id" AS TEXT)) > 200
    THEN SUBSTRING(CAST("customer_id" AS TEXT), 1, 200)
  END AS "pw__cut0",
  CASE WHEN LENGTH(CAST("order_id" AS TEXT)) > 200 THEN NULL ELSE "order_id" END AS "order_id",
  CASE
    WHEN LENGTH(CAST("order_id" AS TEXT)) > 200
    THEN SUBSTRING(CAST("order_id" AS TEXT), 1, 200)
  END AS "pw__cut1",
  CASE WHEN LENGTH(CAST("email" AS TEXT)) > 200 THEN NULL ELSE "email" END AS "email",
  CASE
    WHEN LENGTH(CAST("email" AS TEXT)) > 200
    THEN SUBSTRING(CAST("email" AS TEXT), 1, 200)
  END AS "pw__cut2"
FROM "analytics"."main"."orders"
WHERE
  created_at >= CAST('2026-01-01' AS DATE)
  AND (
    NOT "customer_id" IS NULL
    AND NOT "customer_id" IN (
      SELECT
        "pw__p0"."customer_id"
      FROM "analytics"."main"."customers" AS "pw__p0"
      WHERE
        NOT "pw__p0"."customer_id" IS NULL
    )
  )
LIMIT 5
