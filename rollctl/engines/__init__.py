"""Engines other than the embedded DuckDB: the one place that knows SQL dialects (`dialects`) and the Spark
session that runs rollctl's reductions where the data lies (`spark`).

rollctl's SQL is written once, in DuckDB's dialect (`rollctl.sql`); it reaches another engine only through
`dialects.translate`, which is sqlglot plus a small, tested table of overrides for the constructs sqlglot
gets wrong or cannot express.
"""
