"""Dataset-scope decisions are frames keyed by record: the same records survive whatever the batch
size, and verdicts applied to any partition of the rows give the local engine's result."""

from __future__ import annotations

import polars as pl
import pytest

from curate.engines.local import run_frame
from curate.errors import InvariantError
from curate.records import frame_from_rows
from curate.steps import Context, build_config, step_class
from curate.steps.decisions import ORDER, apply_verdicts
from conftest import alpaca, run_recipe, write_jsonl

DATASET_STEPS = [
    {"use": "dedup.exact"},
    {"use": "dedup.near", "with": {"threshold": 0.7, "keep": "longest_response"}},
    {"use": "select.sample", "with": {"fraction": 0.8, "by": "source"}},
    {"use": "select.mix", "with": {"ratios": {"a": 0.6, "b": 0.4}}},
    {"use": "select.top", "with": {"column": "score", "fraction": 0.7}},
    {"use": "compose.sequential", "with": {"ratio": 0.5, "max_per_task": 3}},
]


def rows(n: int = 160) -> list[dict]:
    out = []
    for i in range(n):
        rec = alpaca(i % 120, score=str((i * 37) % 11))          # 40 exact copies
        if i % 9 == 0:
            rec["output"] += " Indeed."                          # near copies of an earlier record
        out.append(rec)
    return out


def test_dataset_steps_give_the_same_records_for_any_batch_size(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", rows()[:100])
    write_jsonl(tmp_path / "b.jsonl", rows()[100:])
    inputs = [{"path": "a.jsonl", "source": "a", "keep": ["score"]}, {"path": "b.jsonl", "source": "b", "keep": ["score"]}]
    whole = run_recipe(tmp_path, inputs, DATASET_STEPS, name="whole")
    small = run_recipe(tmp_path, inputs, DATASET_STEPS, name="small", batch_size=7)
    # Records a step adds follow their parent's batch, so only their position differs.
    assert whole.final().sort("origin", "id").equals(small.final().sort("origin", "id"))
    assert whole.rejected().sort("origin", "stage").equals(small.rejected().sort("origin", "stage"))
    plain = [s for s in DATASET_STEPS if not s["use"].startswith("compose.")]
    assert run_recipe(tmp_path, inputs, plain, name="w").final().equals(
        run_recipe(tmp_path, inputs, plain, name="s", batch_size=7).final())
    reasons = set(whole.rejected()["reason"].to_list())
    assert {"exact_duplicate", "near_duplicate", "not_top"} <= reasons       # every step decided something


def decide(name: str, frame: pl.DataFrame, **config):
    step = step_class(name)(build_config(name, config), Context(seed=0))
    return step.decide(frame.lazy().with_row_index(ORDER))


def frame(records: list[dict]) -> pl.DataFrame:
    base = {"context": None, "system": None, "history": None, "task": "", "source": "s"}
    return frame_from_rows([{**base, "origin": f"f:{i}", "instruction": r["instruction"], "response": r["output"]}
                            for i, r in enumerate(records)])


@pytest.mark.parametrize("name,config", [("dedup.exact", {}), ("dedup.near", {"threshold": 0.7}),
                                         ("select.sample", {"fraction": 0.5})])
def test_verdicts_applied_to_any_partition_give_the_local_result(name, config):
    data = frame(rows())
    local = run_frame(step_class(name)(build_config(name, config), Context(seed=0)), data, batch_size=50)
    local_kept = pl.concat([r.kept for r in local])
    decisions = decide(name, data, **config)
    ordered = data.with_row_index(ORDER).with_columns(pl.col(ORDER).cast(pl.UInt64))
    # Another engine's blocks: every third row, out of order, each with only its own verdicts.
    blocks = [ordered.filter(pl.col(ORDER) % 3 == k).reverse() for k in range(3)]
    results = [apply_verdicts(b, decisions.verdicts.filter(pl.col(ORDER).is_in(b[ORDER].implode())), {})
               for b in blocks]
    kept = pl.concat([r.kept for r in results]).sort(ORDER).drop(ORDER)
    assert kept.equals(local_kept)
    rejected = pl.concat([r.rejected for r in results]).sort("origin")
    assert rejected.equals(pl.concat([r.rejected for r in local]).sort("origin"))


def test_a_verdict_for_another_record_is_an_error():
    data = frame(rows(20))
    decisions = decide("dedup.exact", data)
    wrong = decisions.verdicts.with_columns(pl.col("id").shift(1, fill_value="nobody"))
    ordered = data.with_row_index(ORDER).with_columns(pl.col(ORDER).cast(pl.UInt64))
    with pytest.raises(InvariantError, match="no verdict for record"):
        apply_verdicts(ordered, wrong, {})


def test_the_surviving_copy_is_the_first_in_input_order_even_with_equal_ids():
    data = frame([{"instruction": "same", "output": "text"}] * 3 + [{"instruction": "other", "output": "x"}])
    assert data["id"].n_unique() == 2                           # exact copies share their content id
    results = run_frame(step_class("dedup.exact")(build_config("dedup.exact", {}), Context()), data, batch_size=1)
    assert [r.kept.height for r in results] == [1, 0, 0, 1]
    assert all("(f:0)" in r.rejected["detail"][0] for r in results[1:3])
