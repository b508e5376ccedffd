"""The core pipeline in Data-Juicer's Ray mode (run with the peers' virtualenv, see
benchmarks/setup_peers.sh): fix_unicode_mapper -> text_length_filter -> words_num_filter ->
ray_document_deduplicator, on a local Ray instance that uses every CPU of this machine.

    python data_juicer_ray_pipeline.py RECORDS_DIR WORK_DIR
"""

import sys

import yaml

if __name__ == "__main__":
    src, work = sys.argv[1], sys.argv[2]
    config = {
        "project_name": "bench-core-ray", "dataset_path": f"{src}/records_text.jsonl",
        "export_path": f"{work}/out", "executor_type": "ray", "ray_address": "local",
        "text_keys": "text", "open_tracer": False, "use_cache": False,
        "process": [{"fix_unicode_mapper": {}}, {"text_length_filter": {"min_len": 10, "max_len": 100000}},
                    {"words_num_filter": {"min_num": 5, "max_num": 2000}},
                    {"ray_document_deduplicator": {"lowercase": True, "ignore_non_character": False}}],
    }
    path = f"{work}/config.yaml"
    with open(path, "w") as fh:
        yaml.safe_dump(config, fh)
    from data_juicer.config import init_configs
    from data_juicer.core.executor.ray_executor import RayExecutor
    RayExecutor(init_configs(args=["--config", path])).run()
