"""`mark.*`: steps that mark parts of records for training rather than keep or drop whole ones (for
example token-level loss masks). None is built in yet; a new one goes in `mark/<name>.py`."""
