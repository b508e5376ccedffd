#!/usr/bin/env bash
# Peer tools for the side-by-side benchmarks, each in its own virtualenv (never in curate's).
# Usage: bash benchmarks/setup_peers.sh [DIR]   (default benchmarks/work/peers)
set -euo pipefail
dir=${1:-benchmarks/work/peers}
mkdir -p "$dir"
python3 -m venv "$dir/dt"
# datatrove's readers, ftfy formatter, exact and MinHash dedup (spacy word tokenizer) need these;
# xxhash 4.x breaks its hashing.
"$dir/dt/bin/pip" install -q datatrove regex ftfy orjson tokenizers spacy "xxhash<4"
python3 -m venv "$dir/dj"
# torch first, pinned, so Data-Juicer does not pull a CUDA build; importing data_juicer needs aiohttp.
"$dir/dj/bin/pip" install -q torch==2.13.0
"$dir/dj/bin/pip" install -q py-data-juicer aiohttp "ray[data]==2.60.0"   # ray: its Ray mode (benchmarks/ray_peers.py)
