"""The OpenVINO CPU backend for the Embedder: the fastest path we measured on a 2-core CPU.

Why OpenVINO and not ONNX Runtime: on this kind of CPU (AVX512-BF16) OpenVINO runs the whole
sentence-transformers graph in bf16 with fused attention kernels, about 1.3x faster than torch bf16
and 2x torch fp32, with cosine 0.99999 to fp32 (benchmarks/RESULTS.md). ONNX Runtime's fp32 and
int8 paths were slower or fell below the quality bar, and `sentence-transformers[onnx]` pulls
optimum-onnx, whose pins break `datasets`. `openvino` itself has no such pins.

The whole SentenceTransformer (transformer, pooling, dense, normalize — whatever its modules are)
is traced once with `openvino.convert_model` and saved as IR next to the embedding cache, keyed by
the model identity, so later processes only compile it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

PRECISIONS = {"ov-bf16": "bf16", "ov-fp32": "f32"}


def available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def _traceable(model):
    """The SentenceTransformer as a module taking positional tensors and returning one tensor."""
    import torch

    class SentenceGraph(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            features = {"input_ids": input_ids, "attention_mask": attention_mask,
                        "token_type_ids": token_type_ids}
            return self.inner(features)["sentence_embedding"]

    return SentenceGraph(model)


class OpenVINOEncoder:
    """Compiled OpenVINO model with the interface `Embedder` needs: tokenizer, max_seq_length, embed()."""

    def __init__(self, model, backend: str, ir_folder: Path):
        import openvino as ov
        import torch
        self.tokenizer = model.tokenizer
        self.max_seq_length = int(model.max_seq_length)
        self.dimension = int((getattr(model, "get_embedding_dimension", None)
                              or model.get_sentence_embedding_dimension)())
        ir = ir_folder / "model.xml"
        if not ir.is_file():
            example = {name: torch.ones(2, 8, dtype=torch.int64) for name in ("input_ids", "attention_mask")}
            example["token_type_ids"] = torch.zeros(2, 8, dtype=torch.int64)
            # Tracing warns about shape checks it freezes (e.g. pooling's mask-width test); they
            # hold for every batch we feed (ids and mask always have the same width).
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                graph = ov.convert_model(_traceable(model.float().eval()), example_input=example)
            ir_folder.mkdir(parents=True, exist_ok=True)
            tmp = ir_folder / f"model.tmp-{os.getpid()}.xml"
            ov.save_model(graph, tmp, compress_to_fp16=False)
            tmp.with_suffix(".bin").replace(ir.with_suffix(".bin"))
            tmp.replace(ir)
        compiled = ov.Core().compile_model(str(ir), "CPU", {
            "INFERENCE_PRECISION_HINT": PRECISIONS[backend],
            # LATENCY: one stream using every core; THROUGHPUT (several streams) needs async
            # requests in flight and measured 2x slower with our synchronous batches.
            "PERFORMANCE_HINT": "LATENCY"})
        self._inputs = {name for port in compiled.inputs for name in port.get_names()}
        self._request = compiled.create_infer_request()

    def get_embedding_dimension(self) -> int:
        return self.dimension

    def embed(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        result = self._request.infer({k: v for k, v in feed.items() if k in self._inputs})
        return np.asarray(result[0], dtype=np.float32)

