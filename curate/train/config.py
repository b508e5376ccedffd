"""The trainer's settings, validated, saved with every run so a result says how it was made."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from ..models.bundled import SMOLLM2

LLAMA_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: str = Field(description="a run directory, an exported dataset folder, data files, or hub:ID")
    model: str = Field(SMOLLM2, description="Hub id, local folder, or bundled:smollm2-135m-instruct")
    out: str = Field(description="output folder (adapter, config, metrics, loss curve, checkpoints)")
    max_len: int = Field(1024, ge=16, description="tokens per packed row; longer examples are truncated or dropped")
    over_length: Literal["truncate", "drop"] = Field("truncate", description="what to do with longer examples")
    batch_size: int = Field(4, ge=1, description="packed rows per micro-batch")
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimizer step")
    epochs: float = Field(1.0, gt=0, description="passes over the data (fractions allowed)")
    max_tokens: Optional[int] = Field(None, ge=1, description="stop after this many tokens (equal-cost comparisons)")
    lr: float = Field(2e-4, gt=0, description="peak learning rate")
    schedule: Literal["cosine", "linear", "constant"] = Field("cosine", description="decay after warmup")
    warmup: float = Field(0.05, ge=0, lt=1, description="fraction of steps spent warming up")
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    lora_r: int = Field(16, ge=1, description="LoRA rank")
    lora_alpha: int = Field(32, ge=1, description="LoRA alpha (scale = alpha / r)")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the LoRA input; 0 by default, as in PEFT "
                                "and LLaMA-Factory: at 0.05 the dropout masks took a fifth of a CPU step")
    target_modules: Optional[list[str]] = Field(None, description="default: every attention and MLP projection of "
                                                                   "Llama-style models, else all linear layers")
    seed: int = Field(0, ge=0, lt=2**63)
    device: str = Field("auto", description="auto (cuda if present), cpu, cuda, cuda:N")
    dtype: Literal["auto", "fp32", "bf16"] = Field("auto", description="auto: bf16 on CUDA; on a CPU, bf16 autocast "
                                                   "where this CPU's bf16 matmuls measure 1.5x fp32's, else fp32")
    loss_at: Literal["auto", "full_logits"] = Field("auto", description="auto: the head at supervised positions "
                                                    "only (checked on the first batch); full_logits: every position, "
                                                    "the plain path (for comparison)")
    save_every: int = Field(50, ge=1, description="optimizer steps between checkpoints")
    limit: Optional[int] = Field(None, ge=1, description="use only the first N records")
    init_adapter: Optional[str] = Field(None, description="a LoRA adapter folder to continue training (its rank, "
                                                          "alpha and targets are kept; the lora_* settings are not used)")
    add_tokens: list[str] = Field(default_factory=list, description="new tokens (e.g. a context indicator made a "
                                  "special token); only their embedding rows are trained, beside LoRA. A run "
                                  "whose mark.context_indicator has special_token: true names its own")
