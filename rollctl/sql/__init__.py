"""All SQL over the canonical tables lives in this package, one module per command.

Each function reduces the whole input to a small result (per-arm, per-unit, per-case sufficient
statistics: counts, sums, sums of squares, cross-products) in plain SQL that another engine could run;
the statistics then work on those summaries in Python.
"""
