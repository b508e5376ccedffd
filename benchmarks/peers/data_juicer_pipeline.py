"""The core pipeline in Data-Juicer (run with the peers' virtualenv, see benchmarks/setup_peers.sh):
fix_unicode_mapper -> text_length_filter -> words_num_filter -> document_deduplicator.
Data-Juicer has no SQL filter; its pipeline is one operator shorter than the others."""

import sys

import yaml

if __name__ == "__main__":
    src, work, np_ = sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 2
    config = {
        "project_name": "bench-core", "dataset_path": f"{src}/records_text.jsonl",
        "export_path": f"{work}/out.jsonl", "np": np_, "text_keys": "text", "open_tracer": False,
        "use_cache": False,
        "process": [{"fix_unicode_mapper": {}}, {"text_length_filter": {"min_len": 10, "max_len": 100000}},
                    {"words_num_filter": {"min_num": 5, "max_num": 2000}},
                    {"document_deduplicator": {"lowercase": True, "ignore_non_character": False}}],
    }
    path = f"{work}/config.yaml"
    with open(path, "w") as fh:
        yaml.safe_dump(config, fh)
    from data_juicer.config import init_configs
    from data_juicer.core import DefaultExecutor
    DefaultExecutor(init_configs(args=["--config", path])).run()
