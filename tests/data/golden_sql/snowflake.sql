-- fused: analytics.main.orders
SELECT
  *
FROM (
  SELECT
    COUNT(*) AS total,
    COUNT(CASE WHEN "CUSTOMER_ID" IS NULL THEN 1 END) AS c1,
    COUNT(
      CASE WHEN NOT "STATUS" IN ('placed', 'shipped', 'completed', 'returned') THEN 1 END
    ) AS c2,
    COUNT(CASE WHEN "AMOUNT" < 0 OR "AMOUNT" > 100000 THEN 1 END) AS c3,
    COUNT(CASE WHEN NOT REGEXP_INSTR("EMAIL", '^[^@ ]+@[^@ ]+\\.[a-z]+$') > 0 THEN 1 END) AS c4,
    COUNT(CASE WHEN NOT "CUSTOMER_ID" IS NULL AND "pw__p0"."pw__k" IS NULL THEN 1 END) AS c5,
    MAX("CREATED_AT") AS c6,
    COUNT(CASE WHEN NOT (
      status <> 'paid' OR NOT paid_at IS NULL
    ) THEN 1 END) AS c7
  FROM "ANALYTICS"."MAIN"."ORDERS"
  LEFT JOIN (
    SELECT
      "pw__p0"."CUSTOMER_ID" AS "pw__k"
    FROM "ANALYTICS"."MAIN"."CUSTOMERS" AS "pw__p0"
    GROUP BY
      "pw__p0"."CUSTOMER_ID"
  ) AS "pw__p0"
    ON "CUSTOMER_ID" = "pw__p0"."pw__k"
  WHERE
    created_at >= CAST('2026-01-01' AS DATE)
) AS pw__flat
CROSS JOIN (
  SELECT
    SUM(
      CASE WHEN (
        pw__g0 = 0 AND pw__g1 = 1
      ) AND "ORDER_ID" IS NULL THEN "pw__n" END
    ) AS c8,
    COUNT(
      CASE
        WHEN (
          pw__g0 = 0 AND pw__g1 = 1
        ) AND "pw__n" > 1 AND NOT "ORDER_ID" IS NULL
        THEN 1
      END
    ) AS c9,
    SUM(
      CASE
        WHEN (
          pw__g0 = 0 AND pw__g1 = 1
        ) AND "pw__n" > 1 AND NOT "ORDER_ID" IS NULL
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
      "ORDER_ID",
      "LINE_NO",
      GROUPING("ORDER_ID") AS pw__g0,
      GROUPING("LINE_NO") AS pw__g1,
      COUNT(*) AS "pw__n"
    FROM "ANALYTICS"."MAIN"."ORDERS"
    WHERE
      created_at >= CAST('2026-01-01' AS DATE)
    GROUP BY
      GROUPING SETS (
        ("ORDER_ID"),
        ("ORDER_ID", "LINE_NO")
      )
  ) AS pw__g
  WHERE
    "ORDER_ID" IS NULL OR "pw__n" > 1
) AS pw__grouped
;
-- fused: analytics.main.customers
SELECT
  *
FROM (
  SELECT
    COUNT(*) AS total,
    COUNT(CASE WHEN "SIGNUP_DATE" < CAST('2020-01-01' AS DATE) THEN 1 END) AS c1
  FROM "ANALYTICS"."MAIN"."CUSTOMERS"
) AS pw__flat
CROSS JOIN (
  SELECT
    COUNT(CASE WHEN "pw__n" > 1 AND NOT "CUSTOMER_ID" IS NULL THEN 1 END) AS c2,
    SUM(CASE WHEN "pw__n" > 1 AND NOT "CUSTOMER_ID" IS NULL THEN "pw__n" END) AS c3,
    SUM(CASE WHEN "CUSTOMER_ID" IS NULL THEN "pw__n" END) AS c4
  FROM (
    SELECT
      "CUSTOMER_ID",
      COUNT(*) AS "pw__n"
    FROM "ANALYTICS"."MAIN"."CUSTOMERS"
    GROUP BY
      "CUSTOMER_ID"
  ) AS pw__g
  WHERE
    "pw__n" > 1 OR "CUSTOMER_ID" IS NULL
) AS pw__grouped
;
-- samples: unique(order_id)
SELECT
  "ORDER_ID",
  COUNT(*) AS "n"
FROM "ANALYTICS"."MAIN"."ORDERS"
WHERE
  created_at >= CAST('2026-01-01' AS DATE) AND NOT "ORDER_ID" IS NULL
GROUP BY
  "ORDER_ID"
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
    "STATUS" AS "value",
    COUNT(*) AS "n"
  FROM "ANALYTICS"."MAIN"."ORDERS"
  WHERE
    created_at >= CAST('2026-01-01' AS DATE)
    AND NOT "STATUS" IN ('placed', 'shipped', 'completed', 'returned')
  GROUP BY
    "STATUS"
) AS pw__v
ORDER BY
  "n" DESC NULLS LAST
LIMIT 5
;
-- samples: matches(email)
SELECT
  CASE WHEN LENGTH(CAST("order_id" AS VARCHAR)) > 200 THEN NULL ELSE "order_id" END AS "order_id",
  CASE
    WHEN LENGTH(CAST("order_id" AS VARCHAR)) > 200
    THEN SUBSTRING(CAST("order_id" AS VARCHAR), 1, 200)
  END AS "pw__cut0",
  CASE WHEN LENGTH(CAST("email" AS VARCHAR)) > 200 THEN NULL ELSE "email" END AS "email",
  CASE
    WHEN LENGTH(CAST("email" AS VARCHAR)) > 200
    THEN SUBSTRING(CAST("email" AS VARCHAR), 1, 200)
  END AS "pw__cut1",
  CASE
    WHEN LENGTH(CAST("customer_id" AS VARCHAR)) > 200
    THEN NULL
    ELSE "customer_id"
  END AS "customer_id",
  CASE
    WHEN LENGTH(CAST("customer_id" AS VARCHAR)) > 200
    THEN SUBSTRING(CAST("customer_id" AS VARCHAR), 1, 200)
  END AS "pw__cut2"
FROM "ANALYTICS"."MAIN"."ORDERS"
WHERE
  created_at >= CAST('2026-01-01' AS DATE)
  AND NOT REGEXP_INSTR("EMAIL", '^[^@ ]+@[^@ ]+\\.[a-z]+$') > 0
LIMIT 5
;
-- samples: relationships(customer_id -> analytics.main.customers.customer_id)
SELECT
  CASE
    WHEN LENGTH(CAST("ORDERS"."order_id" AS VARCHAR)) > 200
    THEN NULL
    ELSE "ORDERS"."order_id"
  END AS "order_id",
  CASE
    WHEN LENGTH(CAST("ORDERS"."order_id" AS VARCHAR)) > 200
    THEN SUBSTRING(CAST("ORDERS"."order_id" AS VARCHAR), 1, 200)
  END AS "pw__cut0",
  CASE
    WHEN LENGTH(CAST("ORDERS"."email" AS VARCHAR)) > 200
    THEN NULL
    ELSE "ORDERS"."email"
  END AS "email",
  CASE
    WHEN LENGTH(CAST("ORDERS"."email" AS VARCHAR)) > 200
    THEN SUBSTRING(CAST("ORDERS"."email" AS VARCHAR), 1, 200)
  END AS "pw__cut1",
  CASE
    WHEN LENGTH(CAST("ORDERS"."customer_id" AS VARCHAR)) > 200
    THEN NULL
    ELSE "ORDERS"."customer_id"
  END AS "customer_id",
  CASE
    WHEN LENGTH(CAST("ORDERS"."customer_id" AS VARCHAR)) > 200
    THEN SUBSTRING(CAST("ORDERS"."customer_id" AS VARCHAR), 1, 200)
  END AS "pw__cut2"
FROM "ANALYTICS"."MAIN"."ORDERS"
LEFT JOIN (
  SELECT
    "pw__p0"."CUSTOMER_ID" AS "pw__k"
  FROM "ANALYTICS"."MAIN"."CUSTOMERS" AS "pw__p0"
  GROUP BY
    "pw__p0"."CUSTOMER_ID"
) AS "pw__p0"
  ON "CUSTOMER_ID" = "pw__p0"."pw__k"
WHERE
  created_at >= CAST('2026-01-01' AS DATE)
  AND (
    NOT "CUSTOMER_ID" IS NULL AND "pw__p0"."pw__k" IS NULL
  )
LIMIT 5
;
-- samples: unique(customer_id)
SELECT
  "CUSTOMER_ID",
  COUNT(*) AS "n"
FROM "ANALYTICS"."MAIN"."CUSTOMERS"
WHERE
  NOT "CUSTOMER_ID" IS NULL
GROUP BY
  "CUSTOMER_ID"
HAVING
  COUNT(*) > 1
ORDER BY
  "n" DESC NULLS LAST
LIMIT 5
