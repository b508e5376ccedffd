"""The `curate` command line. Heavy imports happen inside commands so `--help` stays instant."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from .errors import ConfigError, CurateError

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Curate instruction datasets with recipes; explore runs with SQL; export to the Hub.")


@app.callback()
def _quiet() -> None:
    """Before any command: third-party warnings and progress bars go to the log, not the terminal;
    Arrow allocates from a pool that reuses freed pages (chosen before pyarrow is imported)."""
    from .process_memory import prefer_reusing_allocator
    prefer_reusing_allocator()
    from .quiet import quiet_third_party
    quiet_third_party()


def _use_data_dir(folder: Optional[Path]) -> None:
    """`--data-dir` is `$CURATE_DATA` for this command (the built-in suites read it)."""
    if folder is not None:
        import os
        os.environ["CURATE_DATA"] = str(folder.expanduser().resolve())


def _fail(exc: CurateError) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(exc.exit_code)


@app.command()
def run(recipe: Path = typer.Argument(..., help="recipe YAML"),
        out: Optional[Path] = typer.Option(None, "--out", help="output folder (default: the recipe's output.dir)"),
        set_: List[str] = typer.Option([], "--set", help="override a recipe key: --set steps.0.with.min=5"),
        fresh: bool = typer.Option(False, "--fresh", help="recompute every stage"),
        engine: Optional[str] = typer.Option(None, "--engine", help="local or ray (default: the recipe's engine:, "
                                                                   "else local)"),
        address: Optional[str] = typer.Option(None, "--address", help="--engine ray: the head node, HOST:PORT "
                                                                     "(default: $RAY_ADDRESS, else a local cluster)"),
        workers: Optional[int] = typer.Option(None, "--workers", min=1, help="--engine ray: workers per batch step "
                                                                            "(default: the cluster's CPUs)"),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress or funnel")):
    """Run RECIPE. The last line printed is the run directory."""
    try:
        from .engines import get_engine
        from .recipe import Recipe
        from .runner import Runner
        rec = Recipe.load(recipe, set_)
        run_dir = Runner(rec, out, fresh, progress=not quiet,
                         engine=get_engine(engine or rec.engine, address, workers)).run()
        if not quiet:
            from rich.console import Console
            from .explore.funnel import funnel_table
            from .io.manifest import load_manifest
            console = Console(stderr=True)
            console.print(funnel_table(load_manifest(run_dir), console.width))
        if rec.train or rec.eval:
            from .train.recipe_block import run_blocks
            for line in run_blocks(rec, run_dir, progress=not quiet):
                typer.echo(line, err=True)
    except CurateError as exc:
        _fail(exc)
    typer.echo(str(run_dir))


@app.command()
def show(run_dir: Path = typer.Argument(..., metavar="RUN"),
         format: str = typer.Option("table", "--format", help="table | csv | json")):
    """Print the funnel of a run: per step in / kept / rejected / added and top reasons."""
    try:
        from .explore.funnel import funnel_table
        from .io.manifest import funnel_rows, load_manifest
        manifest = load_manifest(run_dir)
        if format == "table":
            from rich.console import Console
            console = Console()
            console.print(funnel_table(manifest, console.width))
        else:
            from .explore.output import print_rows
            rows = funnel_rows(manifest, top=10)
            print_rows(list(rows[0]), [list(r.values()) for r in rows], format)
    except CurateError as exc:
        _fail(exc)


@app.command()
def sql(run_dir: Path = typer.Argument(..., metavar="RUN"),
        query: Optional[str] = typer.Argument(None, help="SQL; omitted: an interactive shell"),
        format: str = typer.Option("table", "--format", help="table | csv | json")):
    """Run DuckDB SQL (read-only) over a run's views: stage_NN_<step>, final, rejected, lineage."""
    try:
        import duckdb
        from .io.catalog import connect, views
        from .explore.output import print_results
        con = connect(run_dir)
        if query is None:
            from .explore.shell import shell
            shell(con, views(con))
            return
        try:
            print_results(con, query, format)
        except duckdb.Error as exc:
            typer.echo(f"error: {str(exc).splitlines()[0]}\nviews: {', '.join(views(con))}", err=True)
            raise typer.Exit(2)
    except CurateError as exc:
        _fail(exc)


@app.command()
def report(run_dir: Path = typer.Argument(..., metavar="RUN"),
           out: Optional[Path] = typer.Option(None, "--out", help="HTML file (default: RUN/report.html)"),
           embed: bool = typer.Option(False, "--embed", help="embed a sample of the input records for the map "
                                                             "(bundled MiniLM; kept in RUN/report/)"),
           embeddings: Optional[Path] = typer.Option(None, "--embeddings", help="vectors from `curate embed` for "
                                                                                 "the map"),
           include: Optional[List[Path]] = typer.Option(None, "--include", help="a `curate ablate` or `curate "
                                                                                "compare` folder to show; repeat")):
    """One self-contained HTML page of a run: funnel, reasons, score histograms, lengths, sources,
    embedding map, samples of kept and dropped records, training and eval results, and any
    ablation or comparison given with --include."""
    try:
        from .explore.report import write_report
        typer.echo(str(write_report(run_dir, out, str(embeddings) if embeddings else None, embed,
                                    tuple(include or ()))))
    except CurateError as exc:
        _fail(exc)


@app.command()
def export(run_dir: Path = typer.Argument(..., metavar="RUN"),
           to: Path = typer.Option(..., "--to", help="folder to write the Hub layout into"),
           format: str = typer.Option("parquet", "--format", help="parquet | alpaca | messages | sharegpt"),
           hub: Optional[str] = typer.Option(None, "--hub", help="also push to this Hub dataset repo"),
           split: str = typer.Option("train", "--split", help="split name; other splits in --to are kept"),
           license: Optional[str] = typer.Option(None, "--license", help="license for the dataset card"),
           force: bool = typer.Option(False, "--force", help="export into a folder curate did not create, "
                                                             "replacing its README.md")):
    """Write the final dataset as Hub-ready shards plus a dataset card (atomically: a failed export
    leaves the previous one intact)."""
    try:
        from .explore.run_plots import card_images
        from .io.export import export as do_export
        typer.echo(str(do_export(run_dir, to, format, split, hub, license, force=force, card_images=card_images)))
    except CurateError as exc:
        _fail(exc)


@app.command()
def embed(data: str = typer.Argument(..., metavar="DATA_OR_RUN", help="a run directory, or data files / a glob"),
          out: Path = typer.Option(..., "--out", help="Parquet file to write (id, origin, embedding)"),
          field: str = typer.Option("text", "--field", help="text to embed: a column, or `text` for all text"),
          model: Optional[str] = typer.Option(None, "--model", help="sentence-transformers model (default: bundled)"),
          device: str = typer.Option("auto", "--device"),
          backend: str = typer.Option("auto", "--backend", help="auto, fp32, bf16, int8, ov-bf16, ov-fp32 (CPU); fp16 (CUDA)")):
    """Embed records and write their vectors, for SQL, plots or `embeddings:` in a step."""
    try:
        from .explore.embed import embed_to_parquet
        typer.echo(str(embed_to_parquet(data, out, field, model, device, backend)))
    except CurateError as exc:
        _fail(exc)


@app.command("rank-tasks")
def rank_tasks(target: Optional[str] = typer.Option(None, "--target", help="the target task's DATA (files, glob, "
                                                                           "run dir)"),
               candidates: Optional[List[str]] = typer.Option(None, "--candidates", help="candidate DATA; repeat "
                                                                                         "for several"),
               evaluate: Optional[Path] = typer.Option(None, "--evaluate", help="a `curate transfer-matrix` folder: "
                                                                                "score each measure's ranking of its "
                                                                                "sources against the observed transfer"),
               out: Optional[Path] = typer.Option(None, "--out", help="write the table: .csv or .parquet"),
               group_by: Optional[str] = typer.Option(None, "--group-by", help="each value of this column (e.g. "
                                                                            "source, task) is one candidate"),
               measure: Optional[List[str]] = typer.Option(None, "--measure", help="semb, mmd, frechet, kl, knn, "
                                                                                  "textemb; repeat (default: all "
                                                                                  "but textemb)"),
               model: Optional[str] = typer.Option(None, "--model", help="sentence-transformers model (default: "
                                                                         "bundled MiniLM)"),
               field: str = typer.Option("text", "--field", help="text to embed: a column, or `text` for all text"),
               max_examples: int = typer.Option(1000, "--max-examples", min=2, help="examples per task (a seeded "
                                                                                    "sample of larger ones)"),
               seed: int = typer.Option(0, "--seed"),
               plot: Optional[Path] = typer.Option(None, "--plot", help="draw the target and candidates in a "
                                                                        "2-D projection (PNG)"),
               device: str = typer.Option("auto", "--device")):
    """Rank candidate datasets as intermediate tasks for a target: how close their example
    embeddings are to the target's (SEmb cosine, MMD, Frechet, KL, kNN coverage), 1 = best."""
    try:
        from .explore.rank_tasks import evaluate_ranking, format_evaluation, format_table, rank_tasks as do_rank
        if evaluate is not None:
            summary, per_target = evaluate_ranking(evaluate, measure, model, field, max_examples, seed, device)
            typer.echo(format_evaluation(summary))
            if out is not None:
                out.parent.mkdir(parents=True, exist_ok=True)
                per_target.write_csv(out) if out.suffix == ".csv" else per_target.write_parquet(out)
                typer.echo(str(out))
            return
        if not target or not candidates:
            raise ConfigError("give --target DATA and --candidates DATA (or --evaluate MATRIX)")
        table, info = do_rank(target, candidates, out, group_by, measure, model, field, max_examples, seed, device,
                              plot=plot)
        typer.echo(format_table(table, info["measures"]))
        for written in (out, info.get("plot")):
            if written is not None:
                typer.echo(str(written))
    except CurateError as exc:
        _fail(exc)


@app.command("transfer-matrix")
def transfer_matrix(spec: Path = typer.Argument(..., help="YAML: model, seeds, budgets, sources, targets"),
                    out: Path = typer.Option(..., "--out", help="folder for cells, transfer table, heatmap"),
                    quiet: bool = typer.Option(False, "-q", "--quiet")):
    """Observed intermediate-task transfer: for each source, target and seed, LoRA on the source
    then on the target's few-shot data, against target-only training; every cell cached."""
    try:
        from .evals.transfer import TransferSpec, transfer_matrix as run_matrix
        table = run_matrix(TransferSpec.load(spec), out, progress=not quiet)
    except CurateError as exc:
        _fail(exc)
    for row in table.sort("target", "gain", descending=[False, True]).iter_rows(named=True):
        flag = f" ({row['eval_overlap']} eval items in the source)" if row["eval_overlap"] else ""
        typer.echo(f"{row['target'][:16]:<16} {row['source'][:24]:<24} {row['gain']:+.4f} "
                   f"[{row['low']:+.4f}, {row['high']:+.4f}] {row['verdict']}{flag}")
    typer.echo(str(out))


@app.command()
def probes(suite: str = typer.Option(..., "--suite", help="the suite every probe is scored on (built-in or YAML)"),
           out: Path = typer.Option(..., "--out", help="the family's YAML, for score.predictive_strength probes_file:"),
           model: str = typer.Option("bundled:smollm2-135m-instruct", "--model", help="the base model (budget 0)"),
           train: Optional[str] = typer.Option(None, "--train", help="DATA the family's adapters are trained on"),
           budgets: Optional[str] = typer.Option(None, "--budgets", help="token budgets, increasing: 2000,4000,8000 "
                                                                         "(one run, continued through each)"),
           extra_model: Optional[List[str]] = typer.Option(None, "--probe-model", help="another model; repeat"),
           adapter: Optional[List[Path]] = typer.Option(None, "--adapter", help="another adapter over --model; repeat"),
           items: Optional[int] = typer.Option(None, "--items", min=1, help="eval items per group (default: all)"),
           seed: int = typer.Option(0, "--seed"), lr: float = typer.Option(1e-3, "--lr"),
           data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="folder of the built-in suites' data"),
           quiet: bool = typer.Option(False, "-q", "--quiet")):
    """Build a probe family for PreSelect: the base model and adapters trained to increasing token
    budgets (plus any given models), each scored on a suite; written as a probes YAML."""
    _use_data_dir(data_dir)
    try:
        from .evals.probe_family import build_family
        try:
            steps = tuple(int(b) for b in budgets.split(",")) if budgets else ()
        except ValueError:
            raise ConfigError(f"--budgets: comma-separated token counts, got {budgets!r}") from None
        family = build_family(suite, out, model, train, steps, tuple(extra_model or ()), tuple(adapter or ()),
                              items, seed, lr, progress=not quiet)
    except CurateError as exc:
        _fail(exc)
    for member in family:
        typer.echo(f"{member.get('name') or member.get('adapter') or member['model']:<40} {member['score']:.4f}")
    typer.echo(str(out))


@app.command()
def train(data: str = typer.Argument(..., metavar="DATA", help="a run directory, an exported dataset, data files, or hub:ID"),
          out: Path = typer.Option(..., "--out", help="output folder: adapter/, metrics, loss.png, summary.json"),
          model: str = typer.Option("bundled:smollm2-135m-instruct", "--model", help="Hub id, local folder or bundled"),
          max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="token budget (equal-cost comparisons)"),
          epochs: float = typer.Option(1.0, "--epochs"), lr: float = typer.Option(2e-4, "--lr"),
          max_len: int = typer.Option(1024, "--max-len", help="tokens per packed row"),
          batch_size: int = typer.Option(4, "--batch-size", help="packed rows per micro-batch"),
          grad_accum: int = typer.Option(1, "--grad-accum"), seed: int = typer.Option(0, "--seed"),
          lora_r: int = typer.Option(16, "--lora-r"), lora_alpha: int = typer.Option(32, "--lora-alpha"),
          lora_dropout: float = typer.Option(0.0, "--lora-dropout"),
          schedule: str = typer.Option("cosine", "--schedule", help="cosine, linear or constant"),
          device: str = typer.Option("auto", "--device"),
          dtype: str = typer.Option("auto", "--dtype", help="auto (bf16 on CUDA; on a CPU bf16 autocast where it "
                                                            "measures 1.5x faster), fp32 or bf16"),
          limit: Optional[int] = typer.Option(None, "--limit", help="first N records only"),
          init_adapter: Optional[Path] = typer.Option(None, "--init-adapter", help="continue training this LoRA "
                                                                                    "adapter folder"),
          quiet: bool = typer.Option(False, "-q", "--quiet")):
    """LoRA-fine-tune a causal LM on records (loss on response tokens, packed, resumable)."""
    from pydantic import ValidationError
    try:
        from .train.config import TrainConfig
        from .train.loop import Trainer
        cfg = TrainConfig(data=data, out=str(out), model=model, max_tokens=max_tokens, epochs=epochs, lr=lr,
                          max_len=max_len, batch_size=batch_size, grad_accum=grad_accum, seed=seed, lora_r=lora_r,
                          lora_alpha=lora_alpha, lora_dropout=lora_dropout, schedule=schedule, device=device,
                          dtype=dtype, limit=limit,
                          init_adapter=str(init_adapter) if init_adapter else None)
        summary = Trainer(cfg, progress=not quiet).run()
    except ValidationError as exc:
        _fail(ConfigError(str(exc)))
    except CurateError as exc:
        _fail(exc)
    typer.echo(f"{out}: {summary['steps']} steps, {summary['tokens']:,} tokens, {summary['tokens_per_s']:,.0f} tok/s")


@app.command("eval")
def eval_(model: str = typer.Option("bundled:smollm2-135m-instruct", "--model", help="Hub id, local folder or bundled"),
          suite: Optional[str] = typer.Option(None, "--suite", help="gsm8k, ii-execute[:TASK], ii-sequential[:TASK], "
                                                                    "ii-single[:TASK], bbh[:TASK], bbh-choice[:TASK], "
                                                                    "xquad[:LANG], xquad-loss[:LANG], coi, coi-content, "
                                                                    "conflictqa, or a suite YAML file"),
          harness: Optional[str] = typer.Option(None, "--harness", help="lm-eval-harness task(s) instead of a suite: "
                                                                         "TASK[,TASK...]"),
          tasks_dir: Optional[Path] = typer.Option(None, "--tasks-dir", help="folder of lm-eval task YAMLs (offline)"),
          system: Optional[str] = typer.Option(None, "--system", help="--harness: a system prompt for every item"),
          out: Optional[Path] = typer.Option(None, "--out", help="folder for predictions.parquet and summary.json"),
          adapter: Optional[str] = typer.Option(None, "--adapter", help="LoRA adapter folder (curate train OUT/adapter)"),
          limit: Optional[int] = typer.Option(None, "--limit", min=1, help="first N items per group"),
          batch_size: int = typer.Option(16, "--batch-size"), device: str = typer.Option("auto", "--device"),
          data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="folder of the built-in suites' data "
                                                                            "(default: $CURATE_DATA)"),
          list_suites: bool = typer.Option(False, "--list", help="list the built-in suites: what each measures, "
                                                                  "where its data comes from, whether it is here"),
          quiet: bool = typer.Option(False, "-q", "--quiet")):
    """Evaluate a model (and adapter) on a suite: batched greedy generation or log-likelihoods, automatic scoring."""
    _use_data_dir(data_dir)
    if list_suites:
        from .evals.suites import listing
        typer.echo(listing())
        return
    if (suite is None) == (harness is None):
        _fail(ConfigError("give exactly one of --suite or --harness (`curate eval --list` shows the suites)"))
    if out is None:
        _fail(ConfigError("--out FOLDER is needed: predictions.parquet and summary.json go there"))
    try:
        if harness:
            from .evals.harness import run_harness
            for task, summary in run_harness(model, harness.split(","), out, adapter, limit,
                                             str(tasks_dir) if tasks_dir else None, device, batch_size,
                                             system).items():
                typer.echo(f"{summary['suite']} ({summary['scorer']}): {summary['score']} over {summary['items']} "
                           f"items -> {Path(out) / task}")
            return
        from .evals.run import evaluate
        summary = evaluate(model, suite, out, adapter, device, limit, batch_size, progress=not quiet)
    except CurateError as exc:
        _fail(exc)
    groups = "".join(f"\n  {g}: {v}" for g, v in summary["groups"].items()) if len(summary["groups"]) > 1 else ""
    steps = "".join(f"\n  {k}: {v}" for k, v in {**summary.get("steps", {}), **(
        {"all steps": summary["all_steps"]} if "all_steps" in summary else {})}.items())
    typer.echo(f"{summary['suite']} ({summary['scorer']}): {summary['score']} over {summary['items']} items"
               f"{groups}{steps}")


@app.command()
def compare(baseline: str = typer.Option(..., "--baseline", help="baseline DATA (run dir, export, files)"),
            treatment: str = typer.Option(..., "--treatment", help="treatment DATA"),
            suite: List[str] = typer.Option([], "--suite", help="eval suite(s); repeat for several"),
            harness: Optional[str] = typer.Option(None, "--harness", help="lm-eval-harness task(s): TASK[,TASK...]"),
            tasks_dir: Optional[Path] = typer.Option(None, "--tasks-dir", help="folder of lm-eval task YAMLs (offline)"),
            system: Optional[str] = typer.Option(None, "--system", help="--harness: a system prompt for every item"),
            out: Path = typer.Option(..., "--out"),
            model: str = typer.Option("bundled:smollm2-135m-instruct", "--model"),
            seeds: int = typer.Option(3, "--seeds", min=1, help="training seeds per arm"),
            max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="budget per run (default: the "
                                                                                "smaller dataset's tokens)"),
            limit: Optional[str] = typer.Option(None, "--limit", "--items", help="eval items per group (harness: per "
                                                "task), or 'auto': as many as --detect needs, at most --items-cap"),
            detect: float = typer.Option(0.02, "--detect", min=1e-6, help="--items auto: the difference to be able "
                                                                          "to detect (80% power)"),
            items_cap: int = typer.Option(2000, "--items-cap", min=1, help="--items auto: at most this many items"),
            max_len: int = typer.Option(1024, "--max-len"), lr: float = typer.Option(2e-4, "--lr"),
            data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="folder of the built-in suites' data "
                                                                              "(default: $CURATE_DATA)")):
    """A/B: train on both datasets at equal cost and seeds, evaluate, report difference with a 95% interval."""
    _use_data_dir(data_dir)
    if not suite and not harness:
        _fail(ConfigError("give at least one --suite or --harness task"))
    if limit is not None and limit != "auto" and not (limit.isdigit() and int(limit) > 0):
        _fail(ConfigError(f"--items {limit!r}: give a positive number of items per group, or auto"))
    try:
        from .evals.compare import compare as run_compare
        results = run_compare(baseline, treatment, suite, out, model, seeds, max_tokens,
                              int(limit) if limit and limit != "auto" else limit, {"max_len": max_len, "lr": lr},
                              harness=harness.split(",") if harness else None,
                              tasks_dir=str(tasks_dir) if tasks_dir else None, detect=detect, items_cap=items_cap,
                              system=system)
    except CurateError as exc:
        _fail(exc)
    from .evals.power import power_note
    for name, r in results.items():
        typer.echo(f"{name}: {r['baseline']:.4f} -> {r['treatment']:.4f} ({r['diff']:+.4f}, 95% "
                   f"[{r['low']:+.4f}, {r['high']:+.4f}]) {r['verdict']}; {power_note(r)}")
    typer.echo(str(Path(out) / "report.md"))


@app.command()
def ablate(recipe: Path = typer.Argument(..., help="recipe YAML"),
           out: Path = typer.Option(..., "--out", help="folder for the variants' runs, ablation.md, .json, .png"),
           suite: List[str] = typer.Option([], "--suite", help="eval suite(s); repeat (default: the recipe's eval: "
                                                              "suites)"),
           seeds: int = typer.Option(3, "--seeds", min=1, help="training seeds per variant"),
           max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="budget per run (default: the "
                                                                               "smallest variant's tokens)"),
           items: Optional[int] = typer.Option(None, "--items", "--limit", min=1, help="eval items per group"),
           prefixes: bool = typer.Option(False, "--prefixes", help="also train each prefix of the recipe (the "
                                                                   "input, the first step, the first two, ...)"),
           model: Optional[str] = typer.Option(None, "--model", help="default: the recipe's train: model, else the "
                                                                    "bundled SmolLM2"),
           lr: Optional[float] = typer.Option(None, "--lr"), max_len: Optional[int] = typer.Option(None, "--max-len"),
           set_: List[str] = typer.Option([], "--set", help="override a recipe key, as in curate run"),
           data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="folder of the built-in suites' data"),
           quiet: bool = typer.Option(False, "-q", "--quiet")):
    """Which step helps? The recipe vs the recipe with each step switched off in turn, every variant
    trained at one token budget and seeds and evaluated; each step's effect with its 95% interval."""
    _use_data_dir(data_dir)
    try:
        from .evals.ablation import ablate as run_ablation, format_table
        from .recipe import Recipe
        result = run_ablation(Recipe.load(recipe, set_), out, suite, seeds, max_tokens, items, prefixes, model, lr,
                              max_len, progress=not quiet)
    except CurateError as exc:
        _fail(exc)
    import shutil
    typer.echo(format_table(result["effects"], min(shutil.get_terminal_size().columns, 100)))
    typer.echo(str(Path(out) / "ablation.md"))


fasttext_app = typer.Typer(no_args_is_help=True, help="fastText classifiers: train one for score.fasttext.")
app.add_typer(fasttext_app, name="fasttext")


@fasttext_app.command("train")
def fasttext_train(data: str = typer.Argument(..., metavar="DATA_OR_RUN", help="a run directory, or data files / a glob"),
                   label_field: str = typer.Option(..., "--label-field", help="column holding each record's label"),
                   out: Path = typer.Option(..., "--out", help="model file to write (.bin); a .json report goes beside it"),
                   fields: str = typer.Option("instruction,context,response", "--fields", help="fields joined into the text"),
                   valid_fraction: float = typer.Option(0.1, "--valid-fraction", help="held out for precision/recall"),
                   epoch: int = typer.Option(10, "--epoch"), lr: float = typer.Option(0.5, "--lr"),
                   word_ngrams: int = typer.Option(2, "--word-ngrams"), dim: int = typer.Option(64, "--dim"),
                   seed: int = typer.Option(0, "--seed")):
    """Train a fastText classifier on labelled records; score data with it using `score.fasttext`."""
    try:
        from .train.fasttext import train_classifier
        report = train_classifier(data, label_field, out, fields.split(","), valid_fraction, epoch, lr,
                                  word_ngrams, dim, seed)
    except CurateError as exc:
        _fail(exc)
    typer.echo(f"{out}: labels {report['labels']}, trained on {report['train']}, "
               f"held-out precision@1 {report.get('valid_precision_at_1', 'n/a')}")


@app.command()
def steps(name: Optional[str] = typer.Argument(None, help="one step, in detail")):
    """List registered steps, or one step's config fields with their defaults."""
    from rich.console import Console
    from .explore.step_help import detail, overview
    from .steps import REGISTRY, step_class
    console = Console()
    try:
        text = detail(step_class(name), console.width) if name else \
            overview([REGISTRY[k] for k in sorted(REGISTRY)], console.width)
    except CurateError as exc:
        _fail(exc)
    console.print(text, markup=False, highlight=False)


@app.command()
def formats():
    """List readable formats (with detection hints) and writable formats."""
    from rich.console import Console
    from rich.table import Table
    from .formats import FORMATS, WRITERS
    table = Table(title="readers (`format:` in an input)", title_justify="left")
    for col in ("format", "description", "example"):
        table.add_column(col, overflow="fold")
    for name, fmt in FORMATS.items():
        table.add_row(name, fmt.description, fmt.example)
    console = Console()
    console.print(table)
    console.print("Files: .json, .jsonl/.ndjson, .csv, .tsv (header or `header: false`), .parquet, "
                  "no extension (sniffed as JSON), globs; `hub:` ids via datasets.")
    console.print(f"writers (`curate export --format`): {', '.join(WRITERS)}")


def main() -> None:
    from .quiet import quiet_third_party
    quiet_third_party()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as exc:               # a full disk or an unwritable folder in any command
        from .errors import write_error
        typer.echo(f"error: {write_error(exc, 'a file')}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
