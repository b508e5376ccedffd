"""Engines run step classes over stage files. `local` is the default (and, for now, the only one)."""
