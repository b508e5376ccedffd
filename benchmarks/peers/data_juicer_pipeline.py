"""The core pipeline in Data-Juicer (run with the peers' virtualenv, see benchmarks/setup_peers.sh):
fix_unicode_mapper -> text_length_filter -> words_num_filter -> document_deduplicator.
Data-Juicer has no SQL filter; its pipeline is one operator shorter than the others.

    python data_juicer_pipeline.py RECORDS_DIR WORK_DIR [NP]    # its local executor, NP processes
    python data_juicer_pipeline.py RECORDS_DIR WORK_DIR ray     # its Ray mode, on a local Ray instance
"""

import sys

import yaml

if __name__ == "__main__":
    src, work = sys.argv[1], sys.argv[2]
    mode = sys.argv[3] if len(sys.argv) > 3 else "2"
    on_ray = mode == "ray"
    config = {
        "project_name": "bench-core", "dataset_path": f"{src}/records_text.jsonl",
        "text_keys": "text", "open_tracer": False, "use_cache": False,
        "process": [{"fix_unicode_mapper": {}}, {"text_length_filter": {"min_len": 10, "max_len": 100000}},
                    {"words_num_filter": {"min_num": 5, "max_num": 2000}},
                    {"ray_document_deduplicator" if on_ray else "document_deduplicator":
                         {"lowercase": True, "ignore_non_character": False}}],
    }
    config.update({"export_path": f"{work}/out", "executor_type": "ray", "ray_address": "local"} if on_ray
                  else {"export_path": f"{work}/out.jsonl", "np": int(mode)})
    path = f"{work}/config.yaml"
    with open(path, "w") as fh:
        yaml.safe_dump(config, fh)
    from data_juicer.config import init_configs
    from data_juicer.core import DefaultExecutor
    from data_juicer.core.executor.ray_executor import RayExecutor
    (RayExecutor if on_ray else DefaultExecutor)(init_configs(args=["--config", path])).run()
