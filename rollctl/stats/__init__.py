"""Statistics: pure functions over small summaries (counts, sums, sums of squares, cross-products).

Each function names its method and source. Degenerate input returns an inconclusive result with a
reason code rather than a silent zero. No DuckDB, no I/O, no rendering here.
"""
