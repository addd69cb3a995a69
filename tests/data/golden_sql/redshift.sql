-- fused: analytics.main.orders
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
    COUNT(CASE WHEN NOT "email" ~ '^[^@ ]+@[^@ ]+\\.[a-z]+$' THEN 1 END) AS c4,
    COUNT(CASE WHEN NOT "customer_id" IS NULL AND "pw__p0"."pw__k" IS NULL THEN 1 END) AS c5,
    MAX("created_at") AS c6,
    COUNT(CASE WHEN NOT (
      status <> 'paid' OR NOT paid_at IS NULL
    ) THEN 1 END) AS c7
  FROM "analytics"."main"."orders"
  LEFT JOIN (
    SELECT
      "pw__p0"."customer_id" AS "pw__k"
    FROM "analytics"."main"."customers" AS "pw__p0"
    GROUP BY
      "pw__p0"."customer_id"
  ) AS "pw__p0"
    ON "customer_id" = "pw__p0"."pw__k"
  WHERE
    created_at >= CAST('2026-01-01' AS DATE)
) AS pw__flat
CROSS JOIN (
  SELECT
    SUM(
      CASE WHEN (
        pw__g0 = 0 AND pw__g1 = 1
      ) AND "order_id" IS NULL THEN "pw__n" END
    ) AS c8,
    COUNT(
      CASE
        WHEN (
          pw__g0 = 0 AND pw__g1 = 1
        ) AND "pw__n" > 1 AND NOT "order_id" IS NULL
        THEN 1
      END
    ) AS c9,
    SUM(
      CASE
        WHEN (
          pw__g0 = 0 AND pw__g1 = 1
        ) AND "pw__n" > 1 AND NOT "order_id" IS NULL
        THEN "pw__n"
      END
    ) AS c10,
    SUM(CASE WHEN (
      pw__g0 = 0 AND pw__g1 = 0
    ) AND "pw__n" > 1 THEN "pw__n" - 1 END) AS c11,
    SUM(CASE WHEN (
      pw__g0 = 0 AND pw__g1 = 0
    ) AND "pw__n" > 1 THEN "pw__n" END) AS c12
  FROM (
    SELECT
      "order_id",
      "line_no",
      GROUPING("order_id") AS pw__g0,
      GROUPING("line_no") AS pw__g1,
      COUNT(*) AS "pw__n"
    FROM "analytics"."main"."orders"
    WHERE
      created_at >= CAST('2026-01-01' AS DATE)
    GROUP BY
      GROUPING SETS (
        ("order_id"),
        ("order_id", "line_no")
      )
  ) AS pw__g
  WHERE
    "order_id" IS NULL OR "pw__n" > 1
) AS pw__grouped
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
    SUM(CASE WHEN "customer_id" IS NULL THEN "pw__n" END) AS c4
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
-- samples: unique(order_id)
SELECT
  "order_id",
  COUNT(*) AS "n"
FROM "analytics"."main"."orders"
WHERE
  created_at >= CAST('2026-01-01' AS DATE) AND NOT "order_id" IS NULL
GROUP BY
  "order_id"
HAVING
  COUNT(*) > 1
ORDER BY
  "n" DESC NULLS LAST
LIMIT 5
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
  "n" DESC NULLS LAST
LIMIT 5
;
-- samples: matches(email)
SELECT
  CASE WHEN LENGTH(CAST("email" AS VARCHAR(MAX))) > 200 THEN NULL ELSE "email" END AS "email",
  CASE
    WHEN LENGTH(CAST("email" AS VARCHAR(MAX))) > 200
    THEN SUBSTRING(CAST("email" AS VARCHAR(MAX)) FROM 1 FOR 200)
  END AS "pw__cut0",
  CASE
    WHEN LENGTH(CAST("order_id" AS VARCHAR(MAX))) > 200
    THEN NULL
    ELSE "order_id"
  END AS "order_id",
  CASE
    WHEN LENGTH(CAST("order_id" AS VARCHAR(MAX))) > 200
    THEN SUBSTRING(CAST("order_id" AS VARCHAR(MAX)) FROM 1 FOR 200)
  END AS "pw__cut1",
  CASE
    WHEN LENGTH(CAST("customer_id" AS VARCHAR(MAX))) > 200
    THEN NULL
    ELSE "customer_id"
  END AS "customer_id",
  CASE
    WHEN LENGTH(CAST("customer_id" AS VARCHAR(MAX))) > 200
    THEN SUBSTRING(CAST("customer_id" AS VARCHAR(MAX)) FROM 1 FOR 200)
  END AS "pw__cut2"
FROM "analytics"."main"."orders"
WHERE
  created_at >= CAST('2026-01-01' AS DATE)
  AND NOT "email" ~ '^[^@ ]+@[^@ ]+\\.[a-z]+$'
LIMIT 5
;
-- samples: relationships(customer_id -> analytics.main.customers.customer_id)
SELECT
  CASE
    WHEN LENGTH(CAST("orders"."customer_id" AS VARCHAR(MAX))) > 200
    THEN NULL
    ELSE "orders"."customer_id"
  END AS "customer_id",
  CASE
    WHEN LENGTH(CAST("orders"."customer_id" AS VARCHAR(MAX))) > 200
    THEN SUBSTRING(CAST("orders"."customer_id" AS VARCHAR(MAX)) FROM 1 FOR 200)
  END AS "pw__cut0",
  CASE
    WHEN LENGTH(CAST("orders"."order_id" AS VARCHAR(MAX))) > 200
    THEN NULL
    ELSE "orders"."order_id"
  END AS "order_id",
  CASE
    WHEN LENGTH(CAST("orders"."order_id" AS VARCHAR(MAX))) > 200
    THEN SUBSTRING(CAST("orders"."order_id" AS VARCHAR(MAX)) FROM 1 FOR 200)
  END AS "pw__cut1",
  CASE
    WHEN LENGTH(CAST("orders"."email" AS VARCHAR(MAX))) > 200
    THEN NULL
    ELSE "orders"."email"
  END AS "email",
  CASE
    WHEN LENGTH(CAST("orders"."email" AS VARCHAR(MAX))) > 200
    THEN SUBSTRING(CAST("orders"."email" AS VARCHAR(MAX)) FROM 1 FOR 200)
  END AS "pw__cut2"
FROM "analytics"."main"."orders"
LEFT JOIN (
  SELECT
    "pw__p0"."customer_id" AS "pw__k"
  FROM "analytics"."main"."customers" AS "pw__p0"
  GROUP BY
    "pw__p0"."customer_id"
) AS "pw__p0"
  ON "customer_id" = "pw__p0"."pw__k"
WHERE
  created_at >= CAST('2026-01-01' AS DATE)
  AND (
    NOT "customer_id" IS NULL AND "pw__p0"."pw__k" IS NULL
  )
LIMIT 5
;
-- samples: unique(customer_id)
SELECT
  "customer_id",
  COUNT(*) AS "n"
FROM "analytics"."main"."customers"
WHERE
  NOT "customer_id" IS NULL
GROUP BY
  "customer_id"
HAVING
  COUNT(*) > 1
ORDER BY
  "n" DESC NULLS LAST
LIMIT 5
