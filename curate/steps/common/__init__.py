"""Helpers several step families share: which text a step reads (`text.py`), embedding settings and
vectors for a frame (`embedding.py`), seeded selection by hash rank (`hash_rank.py`) and MinHash
signatures and shingles (`minhash.py`). Nothing here is a step."""
