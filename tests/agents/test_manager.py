"""The agent manager: specs saved in the database and as YAML files that agree, clear errors,
hand edits that are reported and never lost silently, and time from the injected clock."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from agents.manager import AgentManager, load_spec_file
from agents.providers import ProvidersConfig, load_providers
from agents.specs import AgentSpec, Role
from trading.clock import ReplayClock
from trading.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def providers() -> ProvidersConfig:
    return load_providers(ROOT / "providers.yaml")


@pytest.fixture
def clock() -> ReplayClock:
    return ReplayClock(T0)


@pytest.fixture
def manager(
    tmp_path: Path, clock: ReplayClock, providers: ProvidersConfig
) -> Iterator[AgentManager]:
    with AgentManager.at_home(tmp_path / "home", clock, providers) as opened:
        yield opened


def bull(**changes: object) -> AgentSpec:
    return AgentSpec.model_validate(
        {"name": "bull", "role": "bull", "model": "fast", "temperature": 0.3, **changes}
    )


def test_a_created_agent_is_listed_shown_and_mirrored_as_yaml_that_matches_the_database(
    manager: AgentManager, tmp_path: Path
) -> None:
    saved = manager.create(bull())
    assert saved.path == tmp_path / "home" / "agents" / "bull.yaml"
    assert (tmp_path / "home" / "agents.db").exists()
    assert [a.name for a in manager.list()] == ["bull"]
    shown = manager.show("bull")
    assert shown.spec == bull()
    assert shown.created_at == shown.updated_at == T0
    assert shown.file_status == "same"
    assert load_spec_file(saved.path) == manager.get("bull") == bull()


def test_the_yaml_file_is_plain_readable_yaml_with_a_persona_as_a_text_block(
    manager: AgentManager,
) -> None:
    persona = "You fade crowded trades.\nSay which crowd, and why it is wrong."
    saved = manager.create(
        AgentSpec(name="contrarian", role=Role.CUSTOM, model="deep", persona=persona)
    )
    text = saved.path.read_text()
    assert text.startswith("# tradepit agent 'contrarian'")
    assert "persona: |-\n  You fade crowded trades.\n  Say which crowd" in text
    assert "role: custom" in text
    assert "tools:\n- get_market_summary\n" in text
    assert yaml.safe_load(text)["persona"] == persona


def test_list_is_sorted_by_name(manager: AgentManager) -> None:
    for name in ("zeta", "alpha", "mid"):
        manager.create(bull(name=name))
    assert [a.name for a in manager.list()] == ["alpha", "mid", "zeta"]


def test_update_changes_only_the_given_fields_and_stamps_the_time_from_the_clock(
    manager: AgentManager, clock: ReplayClock
) -> None:
    manager.create(bull())
    clock.advance_to(T0 + timedelta(hours=1))
    saved = manager.update("bull", {"temperature": 0.7, "tools": ["get_price"]})
    assert saved.spec == bull(temperature=0.7, tools=("get_price",))
    assert (saved.created_at, saved.updated_at) == (T0, T0 + timedelta(hours=1))
    assert manager.show("bull").spec == saved.spec
    assert load_spec_file(saved.path) == saved.spec


def test_an_update_is_validated_as_a_whole_and_a_refused_one_changes_nothing(
    manager: AgentManager,
) -> None:
    manager.create(bull())
    with pytest.raises(ConfigError, match="a custom role needs a persona"):
        manager.update("bull", {"role": "custom"})
    with pytest.raises(ConfigError, match=r"agent 'bull': temperature: .*less than or equal"):
        manager.update("bull", {"temperature": 9})
    with pytest.raises(ConfigError, match="cannot be renamed"):
        manager.update("bull", {"name": "bear"})
    assert manager.get("bull") == bull()
    assert load_spec_file(manager.path("bull")) == bull()


def test_an_update_without_changes_keeps_updated_at(
    manager: AgentManager, clock: ReplayClock
) -> None:
    manager.create(bull())
    clock.advance_to(T0 + timedelta(days=1))
    assert manager.update("bull", {"temperature": 0.3}).updated_at == T0


def test_remove_deletes_the_database_record_and_the_file(manager: AgentManager) -> None:
    saved = manager.create(bull())
    manager.remove("bull")
    assert manager.list() == []
    assert not saved.path.exists()


def test_a_second_agent_with_the_same_name_is_refused_and_the_first_is_kept(
    manager: AgentManager,
) -> None:
    manager.create(bull())
    with pytest.raises(ConfigError, match="an agent named 'bull' already exists"):
        manager.create(bull(temperature=0.9))
    assert manager.get("bull").temperature == 0.3
    assert load_spec_file(manager.path("bull")).temperature == 0.3


@pytest.mark.parametrize(
    "act",
    [
        lambda m: m.show("ghost"),
        lambda m: m.get("ghost"),
        lambda m: m.update("ghost", {"temperature": 0.5}),
        lambda m: m.remove("ghost"),
    ],
    ids=["show", "get", "update", "remove"],
)
def test_an_unknown_name_is_an_error_that_lists_the_known_agents(
    manager: AgentManager, act: Callable[[AgentManager], object]
) -> None:
    manager.create(bull())
    manager.create(bull(name="bear", role="bear"))
    with pytest.raises(ConfigError, match=r"no agent named 'ghost'; known: bear, bull"):
        act(manager)


def test_an_unknown_name_with_no_agents_says_none_are_saved(manager: AgentManager) -> None:
    with pytest.raises(ConfigError, match="no agent named 'ghost'; no agents are saved yet"):
        manager.show("ghost")


@pytest.mark.parametrize(
    ("field", "reference", "message"),
    [
        ("model", "nosuch:model", "unknown provider 'nosuch'"),
        ("model", "openai:gpt-0", "openai lists no model 'gpt-0'"),
        ("model", "quick", "must read provider:model"),
        ("fallback_model", "anthropic:claude-0", "anthropic lists no model 'claude-0'"),
    ],
)
def test_a_model_reference_missing_from_providers_yaml_is_refused_naming_the_field(
    manager: AgentManager, field: str, reference: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=rf"agent 'bull': {field}: .*{message}"):
        manager.create(bull(**{field: reference}))
    manager.create(bull())
    with pytest.raises(ConfigError, match=rf"agent 'bull': {field}: .*{message}"):
        manager.update("bull", {field: reference})
    assert manager.get("bull") == bull()


def test_without_providers_model_references_are_not_checked(
    tmp_path: Path, clock: ReplayClock
) -> None:
    with AgentManager.at_home(tmp_path, clock) as manager:
        assert manager.create(bull(model="someday:model")).spec.model == "someday:model"


def test_agents_persist_across_manager_instances(
    tmp_path: Path, clock: ReplayClock, providers: ProvidersConfig
) -> None:
    home = tmp_path / "home"
    with AgentManager.at_home(home, clock, providers) as first:
        first.create(bull())
        first.update("bull", {"max_tokens": 2048})
    with AgentManager.at_home(home, ReplayClock(T0 + timedelta(days=3)), providers) as second:
        saved = second.show("bull")
        assert saved.spec == bull(max_tokens=2048)
        assert saved.created_at == T0
        assert saved.file_status == "same"


def test_any_sqlalchemy_url_and_directory_serve(tmp_path: Path, clock: ReplayClock) -> None:
    with AgentManager(f"sqlite:///{tmp_path / 'x.db'}", tmp_path / "specs", clock) as manager:
        manager.create(bull())
    assert (tmp_path / "specs" / "bull.yaml").exists()


def test_a_hand_edited_file_is_reported_while_the_database_stays_the_record(
    manager: AgentManager,
) -> None:
    path = manager.create(bull()).path
    path.write_text(path.read_text().replace("temperature: 0.3", "temperature: 0.8"))
    shown = manager.show("bull")
    assert shown.file_status == "edited"
    assert shown.spec.temperature == 0.3
    assert manager.list()[0].file_status == "edited"


def test_a_change_that_would_overwrite_a_hand_edit_is_refused_unless_forced(
    manager: AgentManager,
) -> None:
    path = manager.create(bull()).path
    path.write_text(path.read_text().replace("temperature: 0.3", "temperature: 0.8"))
    with pytest.raises(ConfigError, match=r"bull\.yaml differs from the database.*--force"):
        manager.update("bull", {"max_tokens": 2048})
    assert "temperature: 0.8" in path.read_text()
    assert manager.get("bull") == bull()
    manager.update("bull", {"max_tokens": 2048}, force=True)
    assert load_spec_file(path) == bull(max_tokens=2048)


def test_applying_the_edited_file_itself_updates_the_database(manager: AgentManager) -> None:
    path = manager.create(bull()).path
    path.write_text(path.read_text().replace("temperature: 0.3", "temperature: 0.8"))
    edited = load_spec_file(path, "bull").model_dump(mode="json")
    saved = manager.update("bull", {**edited, "max_tokens": 4096}, source=path)
    assert saved.spec == bull(temperature=0.8, max_tokens=4096)
    assert manager.show("bull").file_status == "same"
    assert load_spec_file(path) == saved.spec


def test_an_invalid_or_missing_file_is_reported_and_rewritten_by_a_forced_update(
    manager: AgentManager,
) -> None:
    path = manager.create(bull()).path
    path.write_text("name: bull\nrole: bull\nmodel: fast\ntemperature: 9\n")
    assert manager.show("bull").file_status == "invalid"
    path.unlink()
    assert manager.show("bull").file_status == "missing"
    manager.update("bull", {})
    assert load_spec_file(path) == bull()


def test_a_stray_file_without_a_database_record_is_not_overwritten_by_create(
    manager: AgentManager,
) -> None:
    stray = manager.path("bull")
    stray.parent.mkdir(parents=True)
    stray.write_text("name: bull\nrole: bear\nmodel: fast\n")
    assert manager.list() == []
    with pytest.raises(ConfigError, match="has no database record"):
        manager.create(bull())
    assert manager.list() == []
    # Adopting the file itself is what it is for.
    assert manager.create(load_spec_file(stray), source=stray).spec.role is Role.BEAR


def test_a_failed_file_write_leaves_no_agent_and_no_temporary_file(
    manager: AgentManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        manager.create(bull())
    monkeypatch.undo()
    assert manager.list() == []
    assert list(manager.directory.iterdir()) == []


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: bull\nrole: bull\nmodel: fast\ntemprature: 0.3\n",
            "temprature: unknown field; remove it or check its spelling (got 0.3)",
        ),
        (
            "name: bull\nrole: bull\nmodel: fast\ntemperature: 9\n",
            "temperature: Input should be less than or equal to 1.5 (got 9)",
        ),
        ("name: bull\nrole: hero\nmodel: fast\n", "role: Input should be 'market_analyst'"),
        ("name: bull\nrole: bull\n", "model: Field required"),
        ("name: Bull!\nrole: bull\nmodel: fast\n", "name: String should match pattern"),
        (
            "name: bull\nrole: bull\nmodel: fast\ntools: [get_price, sell_everything]\n",
            "unknown tools ['sell_everything']",
        ),
        ("name: bull\nrole: [bull\n", "not valid YAML"),
        ("- bull\n", "an agent file is a mapping with name, role and model, got list"),
    ],
)
def test_a_bad_spec_file_is_an_error_naming_the_file_and_the_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_spec_file(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert "{" not in str(caught.value)  # never the whole spec quoted back


def test_a_missing_spec_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read the agent file"):
        load_spec_file(tmp_path / "nope.yaml")


def test_a_spec_file_may_leave_the_name_to_the_caller_but_not_contradict_it(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "role: bull\nmodel: fast\ntemperature: 0.3\n")
    assert load_spec_file(path, "bull") == bull()
    path = write(tmp_path, "name: bear\nrole: bull\nmodel: fast\n")
    with pytest.raises(ConfigError, match="the file names agent 'bear', but 'bull' was asked for"):
        load_spec_file(path, "bull")
