"""The core pipeline in datatrove (run with the peers' virtualenv, see benchmarks/setup_peers.sh).

JSONL reader -> ftfy -> word-count filter -> exact dedup (signature, find, filter: datatrove's three
stages, the filter stage re-reading and re-filtering the input as datatrove requires) -> a
"lorem ipsum" filter -> JSONL writer. Same normalization for the dedup key as curate's default.
"""

import sys

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.exact_dedup import (ExactDedupConfig, ExactDedupFilter, ExactDedupSignature,
                                                  ExactFindDedups)
from datatrove.pipeline.filters import LambdaFilter
from datatrove.pipeline.formatters import FTFYFormatter
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter


def key(doc):
    return " ".join(doc.text.lower().split())


def words_ok(doc):
    return 5 <= len(doc.text.split()) <= 2000


def no_lorem(doc):
    return "lorem ipsum" not in doc.text.split("\n", 1)[0].lower()


if __name__ == "__main__":
    src, work = sys.argv[1], sys.argv[2]
    config = ExactDedupConfig(content_getter=key)

    def front():
        return [JsonlReader(src, glob_pattern="records_text.jsonl"), FTFYFormatter(), LambdaFilter(words_ok)]

    LocalPipelineExecutor(front() + [ExactDedupSignature(f"{work}/sigs", config)], tasks=1, workers=1,
                          logging_dir=f"{work}/logs/1").run()
    LocalPipelineExecutor([ExactFindDedups(f"{work}/sigs", f"{work}/dups", config)], tasks=1, workers=1,
                          logging_dir=f"{work}/logs/2").run()
    LocalPipelineExecutor(front() + [ExactDedupFilter(f"{work}/dups", config), LambdaFilter(no_lorem),
                                     JsonlWriter(f"{work}/out")], tasks=1, workers=1,
                          logging_dir=f"{work}/logs/3").run()
