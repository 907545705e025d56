"""`tradepit evolve --events jsonl`: the run's progress as one JSON object per line on standard
output, flushed as written, for a process that embeds evolution (a desktop app, a notebook):

- `{"type": "progress", "step", "total", "message", "run_id", "fold", "generation",
  "best_score", "mean_score", "best"}` after each generation (fold and generation count from
  0, `step` from 1 like a progress bar; a resume first replays the generations it found);
- `{"type": "fold", "run_id", ...}` after each fold's adoption decision, with the fold's report
  as the result's `folds` hold it;
- `{"type": "result", ...}` at the end: the document `--json` prints;
- `{"type": "error", "error", "details"}` when the run failed.

The same conventions as the trading loop's events (`orchestration.events`): strict JSON, null
where a figure is undefined.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TextIO

from orchestration.events import write_json_line
from orchestration.evolution.engine import GenerationSummary, Quiet
from orchestration.evolution.genes import Genome


class JsonLinesWatcher(Quiet):
    """A line per generation and per fold; the evaluations within a generation (genomes come in
    their thousands) are left to the progress bar of a person's terminal."""

    def __init__(self, stream: TextIO, describe: Callable[[Genome], Any], fitness: str) -> None:
        self.stream = stream
        self.describe = describe
        self.fitness = fitness
        self.run_id: str | None = None
        self.total = 0
        self.step = 0

    def started(self, run_id: str, generations: int) -> None:
        self.run_id = run_id
        self.total = generations

    def generation(self, summary: GenerationSummary) -> None:
        self.step += 1
        self._write(
            {
                "type": "progress",
                "step": self.step,
                "total": self.total,
                "message": f"fold {summary.fold + 1} generation {summary.generation + 1}: best "
                f"{self.fitness} {summary.best_score:.4f}",
                "run_id": self.run_id,
                "fold": summary.fold,
                "generation": summary.generation,
                "best_score": summary.best_score,
                "mean_score": summary.mean_score,
                "best": self.describe(summary.best),
            }
        )

    def fold(self, report: dict[str, Any]) -> None:
        self._write({"type": "fold", "run_id": self.run_id, **report})

    def result(self, document: Mapping[str, Any]) -> None:
        self._write({"type": "result", **document})

    def _write(self, event: Mapping[str, Any]) -> None:
        write_json_line(self.stream, event)


def write_error(stream: TextIO, error: BaseException, run_id: str | None) -> None:
    """The error event: also for a failure before the run began (a bad config), so a reader
    always ends with a result or an error."""
    details = {"kind": type(error).__name__, "run_id": run_id}
    said = str(error) or type(error).__name__
    write_json_line(stream, {"type": "error", "error": said, "details": details})
