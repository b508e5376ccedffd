"""MinHash near-dedup in Data-Juicer (run with the peers' virtualenv, see benchmarks/setup_peers.sh):
`document_minhash_deduplicator` with space-tokenized 5-grams, 112 permutations as 14 bands x 8
rows, threshold 0.7, lowercased, punctuation removed, `np` worker processes."""

import sys

import yaml

if __name__ == "__main__":
    src, work, np_ = sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 2
    config = {
        "project_name": "bench-minhash", "dataset_path": src, "export_path": f"{work}/out.jsonl", "np": np_,
        "text_keys": "text", "open_tracer": False, "use_cache": False,
        "process": [{"document_minhash_deduplicator": {
            "tokenization": "space", "window_size": 5, "lowercase": True, "ignore_pattern": r"[^\w\s]",
            "num_permutations": 112, "jaccard_threshold": 0.7, "num_bands": 14, "num_rows_per_band": 8}}],
    }
    import os
    os.makedirs(work, exist_ok=True)
    path = f"{work}/config.yaml"
    with open(path, "w") as fh:
        yaml.safe_dump(config, fh)
    from data_juicer.config import init_configs
    from data_juicer.core import DefaultExecutor
    DefaultExecutor(init_configs(args=["--config", path])).run()
