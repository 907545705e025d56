"""`tradepit evolve`: tune an agent's parameters by genetic search over walk-forward folds, and
adopt the result only if it beats its parent and the benchmark out of sample."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from orchestration.cli.common import (
    Db,
    JsonFlag,
    check_report_dir,
    clean_errors,
    fail,
    print_table,
    stderr,
    stdout,
    tradepit_home,
)
from orchestration.evolution.backends import import_ray
from orchestration.evolution.config import Backend, EvolveConfig, load_config
from orchestration.evolution.engine import GenerationSummary, Quiet
from orchestration.evolution.events import JsonLinesWatcher, write_error
from orchestration.evolution.report import genome_tools_caveat, plot_fitness, result_json
from orchestration.evolution.run import (
    EvolutionInterrupted,
    Outcome,
    describe_quant,
    evolve,
    stored_config,
)
from orchestration.evolution.store import EvolutionStore
from trading.clock import LiveClock
from trading.storage import default_database_url

EXAMPLE = Path(__file__).parents[1] / "evolution" / "example.yaml"
EXIT_INTERRUPTED = 130  # the shell's code for a command stopped by Ctrl-C (128 + SIGINT)


class _Shown(Quiet):
    """A progress bar per generation (stderr) and the best genome of each (stdout); the folds
    come in the table at the end."""

    def __init__(self, bar: Progress, describe: Any, fitness: str) -> None:
        self.bar = bar
        self.task = bar.add_task("starting", total=None)
        self.describe = describe
        self.fitness = fitness

    def evaluating(self, label: str, total: int) -> None:
        self.bar.reset(self.task, total=total, description=label)

    def evaluated(self, count: int) -> None:
        self.bar.advance(self.task, count)

    def generation(self, summary: GenerationSummary) -> None:
        best = json.dumps(self.describe(summary.best), separators=(",", ":"))
        # On a terminal the line goes through the bar's own console, which prints it above the
        # bar; printed beside it, the bar's redraw wrote over the line. A pipe gets it plain.
        console = self.bar.console if stdout.is_terminal else stdout
        console.print(
            f"fold {summary.fold + 1} generation {summary.generation + 1}: best {self.fitness} "
            f"{summary.best_score:.4f}, mean {summary.mean_score:.4f}: {best}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


@clean_errors
def evolve_command(
    config: Annotated[
        Path | None,
        typer.Option("--config", help=f"The run's YAML config; an example: {EXAMPLE}."),
    ] = None,
    as_json: JsonFlag = False,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Directory for report.json and fitness.png.",
            callback=check_report_dir,
        ),
    ] = None,
    db: Db = None,
    resume: Annotated[
        str | None,
        typer.Option("--resume", help="Continue an interrupted run (its id) to the same result."),
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(help="Where quant genomes are scored: serial, process or ray."),
    ] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Processes of the pool.")] = None,
    events: Annotated[
        str | None,
        typer.Option(
            metavar="jsonl", help="Print one JSON event per line (progress, fold, result)."
        ),
    ] = None,
) -> None:
    """Evolve an agent: a genetic search per walk-forward fold on the training windows; the
    best child is adopted only if, on the validation window, it beats its parent and the
    benchmark (buy and hold of the symbols in equal parts), or the config's min_validation.

    Prints the best genome of every generation, then each fold's in-sample and out-of-sample
    scores side by side with the benchmark's, what was adopted or why nothing was, and the
    probability of backtest overfitting (CSCV; above 0.5: likely overfit). Every generation
    is stored, so `--resume RUN_ID` continues an interrupted run to the same result. The
    adopted genome is saved: an LLM spec as an agent (`tradepit agents show NAME`), a quant
    one as `$TRADEPIT_HOME/evolved/NAME.yaml` with the `tradepit backtest` command that runs it.
    `--events jsonl` prints the progress as JSON lines instead, for a program to read.

    Exit codes: 0 finished; 2 bad input; 130 interrupted by Ctrl-C, which prints the run's
    id and the `--resume` command that continues it.
    """
    if events not in (None, "jsonl"):
        fail(f"--events takes jsonl, got {events!r}")
    if events and as_json:
        fail("--events and --json both write to standard output; pick one")
    if backend is not None and backend not in get_args(Backend):
        fail(f"--backend takes serial, process or ray, got {backend!r}")
    if backend == "ray":
        import_ray()  # before anything is stored: say what to install, and stop
    if config is None and resume is None:
        fail(f"--config is required (or --resume RUN_ID); an example config: {EXAMPLE}")
    home = tradepit_home()
    url = db or default_database_url(home, "replay")
    store = EvolutionStore(url)
    lines: JsonLinesWatcher | None = None
    try:
        settings: EvolveConfig = (
            load_config(config) if config is not None else stored_config(store, str(resume))
        )
        if events:
            lines = JsonLinesWatcher(sys.stdout, _describer(settings), settings.fitness)
        chosen: Backend | None = backend  # type: ignore[assignment]  # checked above
        outcome = _run(settings, store, url, home, resume, chosen, workers, as_json, lines)
    except EvolutionInterrupted as stop:
        if events:
            write_error(sys.stdout, stop, stop.run_id)
        where = f" --db {db}" if db else ""
        stderr.print(
            f"interrupted: run {stop.run_id} keeps {stop.stored} of {stop.total} generations "
            "(every one it finished); continue it to the same result with: "
            f"tradepit evolve --resume {stop.run_id}{where}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Exception as error:
        if events:  # a reader of the lines learns of the failure there too, then stderr says it
            write_error(sys.stdout, error, None if lines is None else lines.run_id)
        raise
    finally:
        store.close()
    caveat = genome_tools_caveat(settings)
    document = result_json(
        outcome.result, outcome.describe, settings.fitness, outcome.saved, caveat
    )
    if report is not None:
        report.mkdir(parents=True, exist_ok=True)
        plot = plot_fitness(outcome.result, report / "fitness.png", settings.fitness)
        document["report"] = {"json": str(report / "report.json"), "plot": str(plot)}
        (report / "report.json").write_text(json.dumps(document, indent=1), encoding="utf-8")
    if lines is not None:
        lines.result(document)
    elif as_json:
        print(json.dumps(document, indent=1))
    else:
        _print(outcome, document)


def _run(
    settings: EvolveConfig,
    store: EvolutionStore,
    url: str,
    home: Path,
    resume: str | None,
    backend: Backend | None,
    workers: int | None,
    quiet: bool,
    lines: JsonLinesWatcher | None,
) -> Outcome:
    def run(watcher: Any) -> Outcome:
        return evolve(
            settings,
            store=store,
            db_url=url,
            home=home,
            clock=LiveClock(),
            resume=resume,
            backend=backend,
            workers=workers,
            watcher=watcher,
        )

    if lines is not None:
        return run(lines)
    if quiet:
        return run(None)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("genomes"), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=stderr, transient=True) as bar:
        return run(_Shown(bar, _describer(settings), settings.fitness))


def _describer(settings: EvolveConfig) -> Any:
    # A quant genome reads best as the strategy it stands for; an LLM genome as the spec
    # fields it searches (the whole spec would fill the screen).
    if settings.genome.type == "quant":
        return describe_quant
    return lambda genome: genome.to_json()


def _print(outcome: Outcome, document: dict[str, Any]) -> None:
    table = Table(title=f"evolution {outcome.result.run_id} ({outcome.config.fitness})")
    for column in ("fold", "train", "validation", "child IS", "parent IS", "child OOS",
                   "parent OOS", "bench OOS", "adopted", "PBO"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("train", "validation") else "right")
    for f in outcome.result.folds:
        benchmark = f.get("benchmark")  # absent from folds stored before the hurdle existed
        table.add_row(
            str(f["fold"] + 1),
            f"{f['train']['start']} to {f['train']['end']}",
            f"{f['validation']['start']} to {f['validation']['end']}",
            f"{f['in_sample']['child']:.4f}",
            f"{f['in_sample']['parent']:.4f}",
            f"{f['out_of_sample']['child']:.4f}",
            f"{f['out_of_sample']['parent']:.4f}",
            "n/a" if benchmark is None else f"{benchmark['score']:.4f}",
            "yes" if f["adopted"] else "no",
            _pbo_cell(f["pbo"]),
        )
    print_table(stdout, table)
    if outcome.config.min_validation is not None:
        stdout.print(
            f"hurdle: min_validation {outcome.config.min_validation} (instead of the benchmark)",
            markup=False,
            highlight=False,
        )
    stdout.print(document["verdict"], markup=False, highlight=False, soft_wrap=True)
    if document["tools_caveat"]:
        stdout.print(f"tools: {document['tools_caveat']}", markup=False, soft_wrap=True)
    for warning in document["warnings"]:
        stdout.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    adopted = document["adopted"]
    if adopted is not None:
        stdout.print(f"adopted: {json.dumps(adopted)}", markup=False, highlight=False)
    saved = document["saved"]
    if saved:
        stdout.print(f"saved: {json.dumps(saved)}", markup=False, highlight=False)
    if "report" in document:
        stdout.print(f"report: {document['report']['json']}, {document['report']['plot']}")


def _pbo_cell(pbo: dict[str, Any]) -> str:
    if pbo["pbo"] is None:
        return "n/a"
    return f"{pbo['pbo']:.2f}" + (" overfit" if pbo.get("likely_overfit") else "")
