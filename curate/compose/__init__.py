"""Composed instructions: sequential (SIT) and chained (Chain-of-Instructions) records built from
single ones. The steps live in `curate.steps.compose_sequential` / `compose_chain`; this package
holds what they share: the bank of exactly-answerable intermediate tasks, the phrasing, the CoI
output format and the generator-mode prompts."""
