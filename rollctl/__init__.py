"""rollctl: ship prompt changes and model swaps like a risky database migration."""

__version__ = "0.1.0"
