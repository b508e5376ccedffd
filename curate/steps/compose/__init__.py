"""`compose.*`: records built from other records — sequential instructions (`compose.sequential`, SIT)
and chained instructions (`compose.chain`, Chain-of-Instructions). Besides the two steps, this
package holds what they share: `shared.py` (selection by hash rank, caps, derived and declined rows),
`bank.py` (exactly answerable intermediate tasks and their phrasings), `phrasing.py`,
`chain_format.py` (the CoI output format), `text_kind.py`, `generator_mode.py` and `prompts/`."""

from . import chain, sequential  # noqa: F401  (importing a module registers its step)
