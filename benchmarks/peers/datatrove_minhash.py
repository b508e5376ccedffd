"""MinHash near-dedup in datatrove (run with the peers' virtualenv, see benchmarks/setup_peers.sh):
its four stages (signatures, buckets, clusters, filter) with 5-gram shingles, 14 buckets x 8
hashes (its defaults), one task each, reading and writing JSONL."""

import sys

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster,
                                              MinhashDedupFilter, MinhashDedupSignature)
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter

if __name__ == "__main__":
    src, work = sys.argv[1], sys.argv[2]
    config = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8)
    folder, name = src.rsplit("/", 1)

    def reader():
        return JsonlReader(folder, glob_pattern=name, id_key="id")

    LocalPipelineExecutor([reader(), MinhashDedupSignature(f"{work}/sigs", config=config)], tasks=1, workers=1,
                          logging_dir=f"{work}/logs/1").run()
    LocalPipelineExecutor([MinhashDedupBuckets(f"{work}/sigs", f"{work}/buckets", config=config)], tasks=config.num_buckets,
                          workers=1, logging_dir=f"{work}/logs/2").run()
    LocalPipelineExecutor([MinhashDedupCluster(f"{work}/buckets", f"{work}/remove_ids", config=config)], tasks=1,
                          workers=1, logging_dir=f"{work}/logs/3").run()
    LocalPipelineExecutor([reader(), MinhashDedupFilter(f"{work}/remove_ids"),
                           JsonlWriter(f"{work}/out", compression=None,
                                       adapter=lambda self, doc: {"id": doc.id, "text": doc.text})],
                          tasks=1, workers=1, logging_dir=f"{work}/logs/4").run()
