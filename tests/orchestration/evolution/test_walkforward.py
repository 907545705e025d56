"""Walk-forward folds: validation windows never overlap, each follows its training window
after the embargo, and nothing a training replay sees comes from its validation window."""

from __future__ import annotations

import asyncio
import itertools
from datetime import date

import pytest

from orchestration.cli.evolve import EXAMPLE
from orchestration.evolution.config import WalkForward, load_config
from orchestration.evolution.evaluate import evaluate_quant, window_config
from orchestration.evolution.genes import Genome
from orchestration.evolution.run import base_config
from orchestration.evolution.walkforward import lay_out, timeline
from tests.orchestration.evolution.configs import quant_config
from trading.data import Catalog
from trading.decision import Decision, Snapshot
from trading.errors import ConfigError
from trading.replay import run_replay

TIMES = list(range(1_000))


def walk(**fields: object) -> WalkForward:
    return WalkForward.model_validate(
        {"folds": 3, "train_bars": 200, "validation_bars": 100, "embargo_bars": 7, **fields}
    )


def _days(times: list[int]) -> list[int]:
    return [t * 86_400 * 1_000_000_000 for t in times]


@pytest.mark.parametrize("mode", ["expanding", "rolling"])
def test_validation_windows_follow_training_after_the_embargo_without_overlap(mode: str) -> None:
    folds = lay_out(_days(TIMES), walk(mode=mode))
    assert len(folds) == 3
    for fold in folds:
        assert fold.validation.first - fold.train.last - 1 == 7  # the embargo, in bars
        assert fold.train.end < fold.validation.start
        assert fold.validation.bars == 100
    for earlier, later in itertools.pairwise(folds):
        assert earlier.validation.last < later.validation.first
    # Anchored at the end: the last validation window closes on the last bar.
    assert folds[-1].validation.last == len(TIMES) - 1


def test_expanding_windows_start_at_train_bars_and_grow_while_rolling_ones_slide() -> None:
    expanding = lay_out(_days(TIMES), walk(mode="expanding"))
    rolling = lay_out(_days(TIMES), walk(mode="rolling"))
    # train_bars is the first expanding window, as the config says; each later one adds the
    # validation window before it. 1000 bars hold more than the folds need: the earliest
    # bars are left out in both modes, so both start their first fold on the same bar.
    assert [f.train.bars for f in expanding] == [200, 300, 400]
    assert {f.train.first for f in expanding} == {rolling[0].train.first}
    assert [f.train.bars for f in rolling] == [200, 200, 200]
    assert [f.train.last for f in rolling] == [f.train.last for f in expanding]


def test_the_first_expanding_window_of_the_example_is_train_bars_long() -> None:
    config = load_config(EXAMPLE)
    folds = lay_out(timeline(Catalog.default(), config.market), config.walk_forward)
    assert config.walk_forward.mode == "expanding"
    assert folds[0].train.bars == config.walk_forward.train_bars == 756


def test_too_few_bars_for_the_folds_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"walk_forward: 3 folds .* need 507 bars"):
        lay_out(_days(TIMES[:506]), walk())


def test_an_embargo_shorter_than_a_day_with_intraday_bars_is_refused() -> None:
    hourly = [t * 3_600 * 1_000_000_000 for t in range(500)]
    with pytest.raises(ConfigError, match=r"walk_forward\.embargo_bars"):
        lay_out(hourly, walk(folds=2, train_bars=100, validation_bars=50, embargo_bars=2))


class _Spy:
    """Records the last bar every snapshot of a replay can see."""

    name = "spy"

    def __init__(self) -> None:
        self.seen: list[date] = []

    async def decide(self, snapshot: Snapshot) -> Decision:
        self.seen.append(snapshot.view.last_bar("SPX").time.date())
        return Decision({})


@pytest.mark.parametrize("risk", [{}, {"risk.stop_loss": 0.1}])  # vectorised, then replay
def test_a_training_evaluation_sees_nothing_of_its_validation_window(
    risk: dict[str, float],
) -> None:
    config = quant_config()
    catalog = Catalog.default()
    folds = lay_out(timeline(catalog, config.market), config.walk_forward)
    genome = Genome.of(
        {"kind": "sma_cross", "fast": 5, "slow": 20, "weight": 1.0, "allow_short": False, **risk}
    )
    for fold in folds:
        trained = evaluate_quant(genome, fold.train, catalog, base_config(config), "sharpe")
        assert trained.engine == ("replay" if risk else "vectorised")
        # One return per bar after the first: exactly the window's bars, none beyond it.
        assert len(trained.returns) == fold.train.bars - 1
        spy = _Spy()
        config_of_window = window_config(base_config(config), fold.train)
        asyncio.run(run_replay(spy, catalog, config_of_window, run_id="spy"))
        assert max(spy.seen) <= fold.train.end < fold.validation.start
