"""Exploring runs: the DuckDB catalog, SQL, and the funnel."""
