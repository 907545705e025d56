"""`tradepit evolve`, called in-process: the JSON document, the report directory with its
plot, the adopted genome saved, resume by run id, and one stderr line with exit code 2 for a
bad config."""

from __future__ import annotations

import io
import json
import os
import shlex
import signal
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console
from rich.progress import Progress

from orchestration.cli import evolve as cli_evolve
from orchestration.cli.evolve import EXAMPLE
from orchestration.evolution import engine
from orchestration.evolution.config import QuantGenome, load_config
from orchestration.evolution.engine import EvolutionResult
from orchestration.evolution.evaluate import evaluate_quant
from orchestration.evolution.genes import Genome
from orchestration.evolution.run import base_config, load_quant_spec, save_adopted
from orchestration.evolution.space import RISK, RISK_GENES, QuantSpace
from orchestration.evolution.store import EvolutionStore
from orchestration.evolution.walkforward import Window
from tests.orchestration.cli.helpers import as_json, bad, invoke
from tests.orchestration.evolution.configs import quant_config, quant_raw
from trading.clock import ReplayClock
from trading.data import Catalog


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRADEPIT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def write(tmp_path: Path, raw: dict[str, Any], name: str = "evolve.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


# A bear market (mid-2007 to mid-2009), a stop loss searched, and a floor instead of the
# benchmark: on the last validation window (a rally) nothing beats buy and hold.
ADOPTING = {
    "market": {"start": "2007-06-01", "end": "2009-05-31"},
    "genome": {"risk": {"stop_loss": [0.02, 0.2]}},
    "min_validation": -5.0,
}


def test_json_and_report_end_to_end(tmp_path: Path, home: Path) -> None:
    config = write(tmp_path, quant_raw(**ADOPTING))
    db = f"sqlite:///{tmp_path / 'run.db'}"
    report = tmp_path / "report"
    code, out, err = invoke("evolve", "--config", str(config), "--json", "--report", str(report),
                            "--db", db)  # fmt: skip
    assert code == 0, err
    document = json.loads(out)
    assert document["fitness"] == "sharpe"
    assert len(document["generations"]) == 4  # two folds of two generations
    for fold in document["folds"]:
        assert set(fold["in_sample"]) == set(fold["out_of_sample"]) == {"parent", "child"}
        assert fold["train"]["end"] < fold["validation"]["start"]
        assert "pbo" in fold["pbo"]
        assert fold["hurdle"] == {"score": -5.0, "source": "min_validation"}
        assert fold["benchmark"]["name"] == "buy and hold of SPX"
    assert (report / "fitness.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((report / "report.json").read_text()) == {
        **document,
        "report": document["report"],
    }
    # With this seed the first fold's child beats the parent and the floor out of sample,
    # and still clears the floor on the last window.
    assert [f["adopted"] for f in document["folds"]] == [True, False]
    assert document["verdict"].startswith("adopted the fold 1 child:")
    saved = Path(document["saved"]["file"])
    assert saved.parent == home / "evolved"
    agent, limits = load_quant_spec(saved)
    assert agent.kind == document["adopted"]["kind"]
    assert agent.params.model_dump(mode="json") == document["adopted"]["params"]
    assert limits.stop_loss == Decimal(repr(document["adopted"]["risk"]["stop_loss"]))
    # The saved command, as it is, replays the adopted agent with its stop loss over the last
    # validation window: it scores what that fold reported for it out of sample.
    command = document["saved"]["command"]
    last = document["folds"][-1]
    assert f"--start {last['validation']['start']} --end {last['validation']['end']}" in command
    assert "--stop-loss" in command
    code, out, err = invoke(*shlex.split(command)[1:], "--json", "--db", db)
    assert code == 0, err
    replayed = json.loads(out)
    assert replayed["start"] == last["validation"]["start"]
    assert replayed["metrics"]["sharpe"] == pytest.approx(last["out_of_sample"]["parent"], rel=1e-9)
    assert replayed["metrics"]["sharpe"] == pytest.approx(
        document["saved"]["replays"]["sharpe"], rel=1e-9
    )
    assert replayed["metrics"]["benchmark_total_return"] == pytest.approx(
        last["benchmark"]["total_return"], rel=1e-9
    )

    # Resuming a finished run recomputes nothing and reports the same.
    code, again, err = invoke("evolve", "--resume", document["run_id"], "--json", "--db", db)
    assert code == 0, err
    assert json.loads(again) == {k: v for k, v in document.items() if k != "report"}


def test_people_see_each_generations_best_and_the_folds_side_by_side(tmp_path: Path) -> None:
    config = write(tmp_path, quant_raw())
    code, out, err = invoke("evolve", "--config", str(config), "--db",
                            f"sqlite:///{tmp_path / 'run.db'}")  # fmt: skip
    assert code == 0, err
    assert "fold 1 generation 1: best sharpe" in out
    assert "fold 2 generation 2: best sharpe" in out
    assert "OOS" in out
    assert "bench" in out  # a column of the table
    # 2004-2005 with this seed: fold 2's parent scores 1.63 out of sample, its child 0.00, and
    # the search's trials rank as noise would (PBO 0.67): both said in plain words.
    assert "nothing adopted: the best child's validation Sharpe 0.00 does not beat the " in out
    assert "warning: fold 2: PBO 0.67: likely overfit" in out


def test_events_are_json_lines_of_progress_folds_and_the_result(tmp_path: Path) -> None:
    config = write(tmp_path, quant_raw())
    db = f"sqlite:///{tmp_path / 'run.db'}"
    code, out, err = invoke("evolve", "--config", str(config), "--events", "jsonl", "--db", db)
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["type"] for e in events] == [
        "progress", "progress", "fold", "progress", "progress", "fold", "result"
    ]  # fmt: skip
    progress = [e for e in events if e["type"] == "progress"]
    assert [(e["step"], e["total"]) for e in progress] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [(e["fold"], e["generation"]) for e in progress] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    result = events[-1]
    assert {e["run_id"] for e in events} == {result["run_id"]}
    # The same figures as the result's document, which is what --json prints.
    assert [e["best_score"] for e in progress] == [g["best_score"] for g in result["generations"]]
    assert [e["adopted"] for e in events if e["type"] == "fold"] == [
        f["adopted"] for f in result["folds"]
    ]


def test_a_failed_run_ends_its_events_with_an_error(tmp_path: Path) -> None:
    raw = {**quant_raw(), "fitness": "profit"}
    code, out, err = invoke("evolve", "--config", str(write(tmp_path, raw)), "--events", "jsonl",
                            "--db", f"sqlite:///{tmp_path / 'run.db'}")  # fmt: skip
    assert code == 2
    [event] = [json.loads(line) for line in out.splitlines()]
    assert event["type"] == "error"
    assert "fitness" in event["error"]
    assert event["details"]["run_id"] is None  # it failed before a run began
    assert "fitness" in err


def test_events_take_jsonl_alone(tmp_path: Path) -> None:
    config = str(write(tmp_path, quant_raw()))
    assert "--events takes jsonl" in bad("evolve", "--config", config, "--events", "xml")
    assert "pick one" in bad("evolve", "--config", config, "--events", "jsonl", "--json")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"search": {"population": 1}}, "search.population"),
        ({"fitness": "profit"}, "fitness"),
        ({"walk_forward": {"folds": 2, "train_bars": 150, "validation_bars": 60,
                           "embargo_bars": 5, "span": 3}}, "walk_forward.span"),
        ({"genome": {"type": "quant", "kinds": ["sma_cross"],
                     "params": {"sma_cross": {"fast": [0, 5]}}}}, "genome.params.sma_cross.fast"),
        ({"walk_forward": {"folds": 9, "train_bars": 150, "validation_bars": 60}},
         "walk_forward"),
    ],
)  # fmt: skip
def test_a_bad_config_is_one_line_naming_the_field(
    tmp_path: Path, change: dict[str, Any], field: str
) -> None:
    raw = {**quant_raw(), **change}
    err = bad("evolve", "--config", str(write(tmp_path, raw)), "--db",
              f"sqlite:///{tmp_path / 'run.db'}")  # fmt: skip
    assert f"{field}:" in err


def test_unreadable_yaml_and_missing_config_are_bad_input(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed", encoding="utf-8")
    assert "not valid YAML" in bad("evolve", "--config", str(broken))
    assert "--config is required" in bad("evolve")
    assert "no evolution run 'evo-nope'" in bad(
        "evolve", "--resume", "evo-nope", "--db", f"sqlite:///{tmp_path / 'run.db'}"
    )


def test_the_ray_backend_without_ray_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    err = bad("evolve", "--config", str(write(tmp_path, quant_raw())), "--backend", "ray")
    assert "pip install 'tradepit[ray]'" in err


def test_the_shipped_example_config_is_valid() -> None:
    config = load_config(EXAMPLE)
    assert config.genome.type == "quant"


def test_the_saved_command_replays_every_risk_limit_an_evolution_tunes(tmp_path: Path) -> None:
    config = quant_config()
    assert isinstance(config.genome, QuantGenome)
    space = QuantSpace(config.genome)
    risk = {"max_position_weight": 0.8, "max_gross_exposure": 0.9, "daily_loss_limit": 0.01,
            "max_drawdown": 0.04, "stop_loss": 0.02, "take_profit": 0.03}  # fmt: skip
    assert set(risk) == set(RISK_GENES)
    plain = {"kind": "sma_cross", "fast": 5, "slow": 30, "weight": 1.0, "allow_short": False}
    adopted = Genome.of({**plain, **{RISK + k: v for k, v in risk.items()}})
    result = EvolutionResult("evo-x", space.parent, adopted)
    clock = ReplayClock(datetime(2026, 1, 1, tzinfo=UTC))
    saved = save_adopted(config, space, result, tmp_path, clock, None)
    agent, limits = load_quant_spec(Path(saved["file"]))
    assert agent.params.model_dump() == {"weight": 1.0, "allow_short": False, "fast": 5, "slow": 30}
    assert limits.stop_loss == Decimal("0.02")
    # With no fold to judge it, the command replays the config's whole market range.
    whole = Window("whole", 0, 0, config.market.start, config.market.end)
    base = base_config(config)
    scored = evaluate_quant(adopted, whole, Catalog.default(), base, "sharpe").score
    # The limits bite here: without them the same strategy scores otherwise.
    assert (
        scored != evaluate_quant(Genome.of(plain), whole, Catalog.default(), base, "sharpe").score
    )
    code, out, err = invoke(*shlex.split(saved["command"])[1:], "--json", "--db",
                            f"sqlite:///{tmp_path / 'bt.db'}")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["metrics"]["sharpe"] == pytest.approx(scored, rel=1e-9)


def test_a_risk_limit_out_of_range_names_its_flag() -> None:
    err = bad("backtest", "--stop-loss", "1.5")
    assert err == "error: --stop-loss must be above 0 and below 1, got 1.5\n"


def test_ctrl_c_says_which_run_was_kept_and_how_to_resume_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path, quant_raw())
    db = f"sqlite:///{tmp_path / 'run.db'}"
    bred = engine.next_generation

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt  # as Ctrl-C lands while the search breeds generation 2

    monkeypatch.setattr(engine, "next_generation", interrupted)
    code, out, err = invoke("evolve", "--config", str(config), "--json", "--db", db)
    assert code == 130
    assert out == ""
    [run_id] = (
        EvolutionStore(db)
        .engine.connect()
        .exec_driver_sql("select id from evolution_runs")
        .scalars()
    )
    assert f"run {run_id}" in err
    assert "1 of 4 generations" in err
    hint = err[err.index("tradepit evolve --resume") :].split("\n")[0].strip()
    assert hint == f"tradepit evolve --resume {run_id} --db {db}"
    # The command it prints continues the run to its end.
    monkeypatch.setattr(engine, "next_generation", bred)
    code, out, err = invoke(*shlex.split(hint)[1:], "--json")
    assert code == 0, err
    assert json.loads(out)["run_id"] == run_id


def test_ctrl_c_to_a_pooled_run_is_one_line_and_exit_130(tmp_path: Path) -> None:
    """A real Ctrl-C reaches the whole process group, pool workers included: the parent says
    how to resume, and no worker buries that under a traceback of its own."""
    raw = quant_raw(parallel={"backend": "process", "workers": 2}, search={"generations": 50})
    config = write(tmp_path, raw)
    db = f"sqlite:///{tmp_path / 'run.db'}"
    root = Path(__file__).resolve().parents[3]
    with subprocess.Popen(  # noqa: S603 - our own interpreter running our own CLI
        [
            sys.executable,
            "-c",
            # Ctrl-C's disposition as in a terminal's foreground job: a suite run in the
            # background (a non-interactive shell's `&`) hands its children SIGINT ignored,
            # which an interpreter keeps, and the run would never see the signal.
            "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from orchestration.cli import main; main()",
            "evolve",
            "--config",
            str(config),
            "--db",
            db,
            "--events",
            "jsonl",
        ],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    ) as child:
        assert child.stdout is not None
        try:
            # No sleeping: wait on the run's own report of a finished generation.
            first = json.loads(child.stdout.readline())
            assert first["type"] == "progress", first
            os.killpg(child.pid, signal.SIGINT)
            out, err = child.communicate(timeout=120)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=30)
    assert child.returncode == 130, err
    assert "Traceback" not in err, err
    [said] = err.strip().splitlines()
    run_id = first["run_id"]
    assert said.startswith(f"interrupted: run {run_id} keeps ")
    assert said.endswith(f"tradepit evolve --resume {run_id} --db {db}")
    assert json.loads(out.splitlines()[-1])["details"] == {
        "kind": "EvolutionInterrupted",
        "run_id": run_id,
    }


def test_generation_lines_on_a_terminal_print_above_the_bar_not_under_its_redraw(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # They went to stdout beside the live bar on stderr, and its redraw wrote over them.
    screen, beside = io.StringIO(), io.StringIO()
    monkeypatch.setattr(cli_evolve, "stdout", Console(file=beside, force_terminal=True))
    with Progress(console=Console(file=screen, force_terminal=True)) as bar:
        shown = cli_evolve._Shown(bar, lambda genome: genome.to_json(), "sharpe")
        best = Genome.of({"fast": 5})
        shown.generation(engine.GenerationSummary(0, 0, (best,), (1.25,)))
    assert "fold 1 generation 1: best sharpe 1.2500" in screen.getvalue()
    assert beside.getvalue() == ""


def evolve_on_stocks(tmp_path: Path, params: dict[str, Any]) -> Any:
    """The document of `tradepit evolve --json` searching the kinds and ranges of `params` on
    five stocks, adopting above a validation floor of -5."""
    raw = quant_raw(
        market={"symbols": ["AAPL", "MSFT", "KO", "XOM", "JNJ"]},
        genome={"type": "quant", "kinds": list(params), "params": params},
        min_validation=-5.0,
    )
    db = f"sqlite:///{tmp_path / 'run.db'}"
    return as_json("evolve", "--config", str(write(tmp_path, raw)), "--db", db)


def test_evolution_tunes_a_cross_sectional_baseline_on_the_stock_universe(tmp_path: Path) -> None:
    params = {
        "low_volatility": {"window": [10, 60], "top": [0.2, 0.6]},
        "xs_momentum": {"lookback": [21, 100], "skip": [0, 10]},
    }
    document = evolve_on_stocks(tmp_path, params)
    assert len(document["generations"]) == 4
    kinds = {document["parent"]["kind"], *(g["best"]["kind"] for g in document["generations"])}
    assert kinds <= {"low_volatility", "xs_momentum"}


def test_evolution_searches_a_declared_factor_on_the_stock_universe(tmp_path: Path) -> None:
    factor = {
        "indicator": ["momentum", "volatility", "sma_gap"],
        "window": [10, 60],
        "skip": 0,
        "direction": ["high", "low"],
        "top": [0.2, 0.6],
    }
    document = evolve_on_stocks(tmp_path, {"factor_rank": factor})
    assert len(document["generations"]) == 4
    assert {g["best"]["kind"] for g in document["generations"]} == {"factor_rank"}
    bests = [g["best"]["params"] for g in document["generations"]]
    assert {b["indicator"] for b in bests} <= {"momentum", "volatility", "sma_gap"}
    assert all(10 <= b["window"] <= 60 and b["skip"] == 0 for b in bests)
    # The parent is the kind's default declaration: 12-1 momentum, a quintile.
    parent = document["parent"]["params"]
    assert (parent["indicator"], parent["window"], parent["top"]) == ("momentum", 252, 0.2)


def test_a_factor_option_outside_the_declaration_is_named(tmp_path: Path) -> None:
    raw = quant_raw(
        genome={
            "type": "quant",
            "kinds": ["factor_rank"],
            "params": {"factor_rank": {"indicator": ["momentum", "alpha101"]}},
        }
    )
    code, _, err = invoke("evolve", "--config", str(write(tmp_path, raw)))
    assert code == 2
    [line] = err.strip().splitlines()
    assert "genome.params.factor_rank.indicator" in line
    assert "'alpha101'" in line
