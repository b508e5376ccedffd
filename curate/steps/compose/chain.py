"""`compose.chain`: Chain-of-Instructions records ("Chain-of-Instructions: Compositional
Instruction Tuning"): tasks chained so that the output of one is the input of the next."""

from __future__ import annotations

import polars as pl
from pydantic import Field, field_validator

from . import bank, chain_format
from .phrasing import chain_instruction, upper_first
from .text_kind import kind
from ...errors import ConfigError
from ...models.bundled import MINILM
from ..base import register
from .shared import ComposeConfig, ComposeStep, declined, derived

# Output kind of a step -> input kinds of record tasks that may take it (bank tasks check themselves).
TAKES = {"text": {"text"}, "list": {"list", "text"}, "number": {"number"}}


def _instruction_of(task: bank.IntermediateTask, params: dict, rng) -> str:
    return upper_first(task.phrase("text", params, rng)) + "."


def _unusable_step(output: str, step_input: str) -> str | None:
    if not output.strip():
        return "empty output"
    return "the output repeats its input" if output.strip() == step_input else None


@register("compose.chain")
class ComposeChain(ComposeStep):
    """Add a chained version of a share (`ratio`) of the records: the record's task, "and then"
    one or two more tasks applied to its output, in the CoI format:

        instruction: <instruction 1> and then <instruction 2>
        response:    Task 1 output and task 2 input: <o1>
                     Task 2 output: <o2>

    Later steps come from the intermediate-task bank (answers computed exactly, offline) and, with
    `from_records: true` and a `generator:`, from other records' instructions answered by the
    model. A chainability check decides which task may follow: the previous output must be a valid
    input (text, list or number; bank tasks check their own conditions), and for record tasks the
    two instructions' embedding similarity must lie in [`min_similarity`, `max_similarity`]
    (related, but not the same task). Records no task can follow, or whose model-made step fails,
    go to the ledger (`no_chainable_task`, `generator_error`, `generator_format`); the record
    itself stays. New records carry `parent_ids` and `tag_chain` (e.g. `summarize>count_words`)."""

    tag_column = "tag_chain"

    class Config(ComposeConfig):
        lengths: list[int] = Field([2], description="chain lengths to draw from (2 and/or 3 tasks)")
        from_records: bool = Field(False, description="also chain other records' instructions (needs generator)")
        pool: int = Field(200, ge=1, description="record instructions considered as later steps")
        min_similarity: float = Field(0.2, ge=-1, le=1, description="record tasks: least instruction similarity")
        max_similarity: float = Field(0.9, ge=-1, le=1, description="record tasks: most instruction similarity")
        embed_model: str = Field(MINILM, description="sentence-transformers model for instruction similarity")

        @field_validator("lengths")
        @classmethod
        def _two_or_three(cls, v):
            if not v or any(n not in (2, 3) for n in v):
                raise ValueError("lengths may only hold 2 and 3")
            return v

    def prepare(self, data: pl.LazyFrame) -> None:
        self.tasks = [t for t in bank.get(self.config.tasks) if "text" in t.targets]
        self.pool: list[tuple[str, str]] = []     # (instruction, input kind)
        self.embedder = None
        if self.config.from_records:
            if self.config.generator is None:
                raise ConfigError("compose.chain: from_records needs a generator to answer record tasks")
            frame = (data.filter(pl.col("context").fill_null("").str.len_chars() > 0)
                     .select("instruction", "context").unique("instruction", keep="first", maintain_order=True)
                     .head(self.config.pool).collect())
            self.pool = [(i, kind(c)) for i, c in frame.iter_rows()]
            if self.pool:
                from ...models.embed import Embedder
                self.embedder = Embedder(self.config.embed_model)
                self.pool_vectors = self.embedder.encode([p[0] for p in self.pool])

    def _record_candidates(self, output: str, vector) -> list[int]:
        if vector is None or not self.pool:
            return []
        sims = self.pool_vectors @ vector
        takes = TAKES.get(kind(output), set())
        cfg = self.config
        return [j for j, (_, k) in enumerate(self.pool)
                if k in takes and cfg.min_similarity <= sims[j] <= cfg.max_similarity]

    def compose(self, rows: list[dict]) -> tuple[list[dict], list[dict]]:
        added, chains = [], []
        todo, refused = self.screen(rows)
        for row in todo:
            if not (row["response"] or "").strip() or len(row["response"]) > bank.MAX_CHARS:
                refused.append(declined(row, "no_chainable_task", f"the response is empty or over "
                                                                  f"{bank.MAX_CHARS} characters"))
                continue
            rng = self.record_rng(row["id"])
            chains.append({"row": row, "rng": rng, "length": rng.choice(self.config.lengths),
                           "instructions": [row["instruction"]], "outputs": [row["response"].strip()],
                           "names": [row.get("task") or "task"], "vector": None})
        if self.embedder is not None and chains:
            vectors = self.embedder.encode([c["instructions"][0] for c in chains])
            for c, v in zip(chains, vectors):
                c["vector"] = v
        for step in (2, 3):
            asks = []
            for c in chains:
                if c.get("failed") or len(c["outputs"]) >= c["length"] or len(c["outputs"]) >= step:
                    continue
                self._next_step(c, step, asks)
            if asks:
                self._answer(asks, step)
        for c in chains:
            if c.get("failed"):
                refused.append(declined(c["row"], *c["failed"]))
                continue
            for name in c["names"][1:]:
                self.used[name] += 1
            added.append(derived(c["row"], chain_instruction(c["instructions"]), chain_format.render(c["outputs"]),
                                 ">".join(c["names"]), self.tag_column))
        return added, refused

    def _next_step(self, c: dict, step: int, asks: list) -> None:
        """Choose the task for `step` of chain `c`: compute it (bank) or queue a model call (record task)."""
        rng, prev = c["rng"], c["outputs"][-1]
        options = [("bank", t) for t in self.tasks if not self.capped(t.name) and bank.accepts(t, prev)]
        options += [("record", j) for j in self._record_candidates(prev, c["vector"])]
        if not options:
            c["failed"] = ("no_chainable_task", f"step {step}: no task takes a {kind(prev)} output")
            return
        rng.shuffle(options)
        for source, choice in options:
            if source == "record":                # a model answers it, with the other record tasks of this step
                c["instructions"].append(self.pool[choice][0])
                c["names"].append("record")
                c["vector"] = self.pool_vectors[choice]
                asks.append(c)
                return
            params = bank.task_params(choice, prev, "text", rng)
            answer = choice.answer(prev, params)
            if answer.strip() == prev.strip() or choice.name in c["names"]:
                continue                          # a step that changes nothing, or the same task twice
            c["instructions"].append(_instruction_of(choice, params, rng))
            c["outputs"].append(answer)
            c["names"].append(choice.name)
            return
        c["failed"] = ("no_chainable_task", f"step {step}: every task that takes the {kind(prev)} output "
                                            "would repeat it or an earlier step")

    def _answer(self, chains: list[dict], step: int) -> None:
        conversations = [[{"role": "user", "content": f"{c['instructions'][-1]}\n\n{c['outputs'][-1]}"}]
                         for c in chains]
        for c, answer in zip(chains, self.generator.complete(conversations)):
            problem = answer.failure(f"step {step}", lambda text: _unusable_step(text, c["outputs"][-1]))
            if problem:
                c["failed"] = problem
            else:
                c["outputs"].append(answer.text.strip())
