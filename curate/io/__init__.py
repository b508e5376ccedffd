"""Reading sources into canonical records, and exporting runs."""
