"""Where a command writes, checked before it works: `--db` names a SQLAlchemy URL whose driver
is installed, `--report` a folder that is not a file, each refused in one line (exit 2) that
names the flag, never a traceback and never after the work."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

from tests.orchestration.cli.test_root import invoke

EVOLVE = Path(__file__).resolve().parents[3] / "orchestration" / "evolution" / "example.yaml"
COMMANDS = [
    ["backtest", "--symbol", "SPX"],
    ["arena"],
    ["evolve", "--config", str(EVOLVE)],
    ["trade"],
    ["runs", "list"],
    ["debate", "show", "r", "1"],
]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEPIT_HOME", str(tmp_path / "home"))


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_db_that_is_not_a_url_is_one_line_naming_db(command: list[str]) -> None:
    code, out, err = invoke(*command, "--db", "notaurl")
    assert (code, out) == (2, "")
    assert err == "error: --db takes a SQLAlchemy URL such as sqlite:///runs.db, got 'notaurl'\n"


@pytest.mark.parametrize(
    ("url", "module", "package"),
    [
        ("postgresql+psycopg://u:secret@localhost/runs", "psycopg", "'psycopg[binary]'"),
        ("mysql+pymysql://u@localhost/runs", "pymysql", "PyMySQL"),
    ],
)
def test_a_db_without_its_driver_names_the_package_to_install(
    url: str, module: str, package: str
) -> None:
    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{module} is installed here")
    code, _, err = invoke(*COMMANDS[0], "--db", url)
    assert code == 2
    scheme = url.split("://")[0]
    assert err == f"error: --db {scheme}:// needs the {module} driver: pip install {package}\n"
    assert "secret" not in err


def test_a_db_of_an_unknown_kind_is_named() -> None:
    code, _, err = invoke("runs", "list", "--db", "foo://x")
    assert code == 2
    assert err == "error: --db: SQLAlchemy knows no database 'foo' (sqlite, postgresql, mysql...)\n"


@pytest.mark.parametrize(
    "command", [["arena"], ["evolve", "--config", str(EVOLVE)], ["arena", "show", "x"]]
)
def test_a_report_that_is_a_file_is_refused_before_the_work(
    command: list[str], tmp_path: Path
) -> None:
    afile = tmp_path / "report.html"
    afile.write_text("mine", encoding="utf-8")
    started = time.perf_counter()
    code, out, err = invoke(*command, "--report", str(afile))
    assert (code, out) == (2, "")
    assert err == f"error: --report {afile} is a file; it names a folder for the report\n"
    assert time.perf_counter() - started < 5  # the evolve search takes about a minute
    assert afile.read_text(encoding="utf-8") == "mine"
    assert not (tmp_path / "home" / "replay.db").exists()  # nothing ran, nothing was stored
    code, _, err = invoke(*command, "--report", str(afile / "sub"))
    assert code == 2
    assert err == (
        f"error: --report {afile / 'sub'} is inside {afile}, a file; it names a folder for the "
        "report\n"
    )
