"""Saved agents: create, list, show, update and remove `AgentSpec`s by name.

Each agent is kept twice, and the two copies agree:

- a row in the database (`agent_specs`: name, spec as JSON, created and updated times), which is
  the record every reader uses: `get`, `show` and `list` read the database only;
- a YAML file `<directory>/<name>.yaml`, written atomically (a temporary file, then
  `os.replace`) on every change, for people to read, diff and edit.

A file edited by hand is not applied by itself: `show` and `list` report it as `edited` (or
`invalid`, or `missing`), `update(name, load_spec_file(path))` applies it, and a change that
would overwrite an unapplied edit is refused unless forced, so a hand edit is never lost
silently. A file with no database row is not an agent.

Model references are checked against providers.yaml when a `ProvidersConfig` is given. Times
come from the injected clock.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError
from sqlalchemy import JSON, String, create_engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from agents.providers import ProvidersConfig
from agents.specs import AgentSpec
from trading.clock import Clock
from trading.closing import ClosesOnExit
from trading.config_files import field_of, problem, read_yaml
from trading.errors import ConfigError
from trading.storage import UtcDateTime
from trading.storage_schema import Base, create_schema

AGENTS_DB = "agents.db"
AGENTS_DIR = "agents"
FileStatus = Literal["same", "edited", "invalid", "missing"]


class AgentSpecRecord(Base):
    __tablename__ = "agent_specs"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


@dataclass(frozen=True, slots=True)
class SavedAgent:
    """An agent as the database holds it, and how its YAML file compares."""

    spec: AgentSpec
    created_at: datetime
    updated_at: datetime
    path: Path
    file_status: FileStatus

    @property
    def name(self) -> str:
        return self.spec.name


def describe(error: ValidationError) -> str:
    """Pydantic's errors as `field: problem (got value)`, the way providers.yaml reports them."""
    problems = []
    for item in error.errors():
        field, said = field_of(item["loc"]), problem(item)
        if not field:  # a check of the whole spec: its input is the spec, too long to quote
            problems.append(said)
        elif item["type"] == "missing":  # its input is the enclosing mapping: no use either
            problems.append(f"{field}: {said}")
        else:
            problems.append(f"{field}: {said} (got {item.get('input')!r})")
    return "; ".join(problems)


def validate_spec(raw: Mapping[str, Any], where: str) -> AgentSpec:
    """An `AgentSpec` from plain data; a problem is a `ConfigError` that starts with `where`."""
    try:
        return AgentSpec.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{where}: {describe(error)}") from None


def load_spec_file(path: Path, name: str | None = None) -> AgentSpec:
    """An agent spec from a YAML (or JSON) file; errors name the file and the field.

    `name`, when given, is the agent's name: the file may leave `name` out, and if it has one,
    the two must agree.
    """
    raw = read_yaml(path, "the agent file")
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{path}: an agent file is a mapping with name, role and model, "
            f"got {type(raw).__name__}"
        )
    if name is not None:
        if raw.get("name", name) != name:
            raise ConfigError(
                f"{path}: name: the file names agent {raw['name']!r}, but {name!r} was asked for"
            )
        raw = {**raw, "name": name}
    return validate_spec(raw, str(path))


def revise(spec: AgentSpec, changes: Mapping[str, Any]) -> AgentSpec:
    """The spec with `changes` applied, validated again as a whole (a changed role may need a
    persona, a removed tool may be unknown); the name cannot change."""
    if "name" in changes and changes["name"] != spec.name:
        raise ConfigError(
            f"agent {spec.name!r}: name: an agent cannot be renamed (got {changes['name']!r}); "
            "create a new one and remove this one"
        )
    return validate_spec({**spec.model_dump(mode="json"), **changes}, f"agent {spec.name!r}")


class AgentManager(ClosesOnExit):
    """Agents saved in a database (any SQLAlchemy URL) and mirrored as YAML in `directory`."""

    def __init__(
        self,
        url: str,
        directory: Path,
        clock: Clock,
        providers: ProvidersConfig | None = None,
    ) -> None:
        self.engine = create_engine(url)
        create_schema(self.engine, (AgentSpecRecord,))
        self.directory = directory
        self.clock = clock
        self.providers = providers

    @classmethod
    def at_home(
        cls, home: Path, clock: Clock, providers: ProvidersConfig | None = None
    ) -> AgentManager:
        """The agents of a tradepit home: `<home>/agents.db` and `<home>/agents/*.yaml`.

        A database of their own, not a run database: agents serve replay, paper and live alike,
        which keep separate databases."""
        home.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{home / AGENTS_DB}", home / AGENTS_DIR, clock, providers)

    def close(self) -> None:
        self.engine.dispose()

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.yaml"

    def names(self) -> list[str]:
        with Session(self.engine) as session:
            return list(
                session.scalars(select(AgentSpecRecord.name).order_by(AgentSpecRecord.name))
            )

    def create(
        self, spec: AgentSpec, *, force: bool = False, source: Path | None = None
    ) -> SavedAgent:
        """Save a new agent; its name must be free. A YAML file already at its path is
        replaced only with `force`, or when it is the `source` the spec was read from."""
        self._check_models(spec)
        now = self.clock.now()
        try:
            with Session(self.engine) as session, session.begin():
                if session.get(AgentSpecRecord, spec.name) is not None:
                    raise self._duplicate(spec.name)
                session.add(
                    AgentSpecRecord(
                        name=spec.name,
                        spec=spec.model_dump(mode="json"),
                        created_at=now,
                        updated_at=now,
                    )
                )
                session.flush()
                self._write_file(spec, previous=None, force=force, source=source)
        except IntegrityError:  # another process saved the same name in between
            raise self._duplicate(spec.name) from None
        return SavedAgent(spec, now, now, self.path(spec.name), "same")

    def get(self, name: str) -> AgentSpec:
        """The saved spec (the database's); what a team's `agent: NAME` member resolves to."""
        with Session(self.engine) as session:
            record = self._record(session, name)
            return self._stored(record)

    def show(self, name: str) -> SavedAgent:
        with Session(self.engine) as session:
            record = self._record(session, name)
            return self._saved(record)

    def list(self) -> list[SavedAgent]:
        with Session(self.engine) as session:
            records = session.scalars(select(AgentSpecRecord).order_by(AgentSpecRecord.name))
            return [self._saved(record) for record in records]

    def update(
        self,
        name: str,
        changes: Mapping[str, Any],
        *,
        force: bool = False,
        source: Path | None = None,
    ) -> SavedAgent:
        """Apply `changes` (field -> new value; other fields keep theirs) and validate the
        result as a whole. A YAML file edited by hand since it was written is replaced only
        with `force`, or when it is the `source` the changes were read from (applying it).
        No change at all rewrites the file from the database and keeps `updated_at`."""
        with Session(self.engine) as session, session.begin():
            record = self._record(session, name)
            previous = self._stored(record)
            spec = revise(previous, changes)
            self._check_models(spec)
            if spec != previous:
                record.spec = spec.model_dump(mode="json")
                record.updated_at = self.clock.now()
                session.flush()
            self._write_file(spec, previous=previous, force=force, source=source)
            return SavedAgent(spec, record.created_at, record.updated_at, self.path(name), "same")

    def remove(self, name: str) -> None:
        """Delete the agent: its database row, then its YAML file."""
        with Session(self.engine) as session, session.begin():
            record = self._record(session, name)
            session.delete(record)
        self.path(name).unlink(missing_ok=True)

    def _check_models(self, spec: AgentSpec) -> None:
        if self.providers is None:
            return
        for field, reference in (("model", spec.model), ("fallback_model", spec.fallback_model)):
            if reference is None:
                continue
            try:
                self.providers.resolve(reference)
            except ConfigError as error:
                raise ConfigError(f"agent {spec.name!r}: {field}: {error}") from None

    def _stored(self, record: AgentSpecRecord) -> AgentSpec:
        return validate_spec(record.spec, f"agent {record.name!r} in the database")

    def _saved(self, record: AgentSpecRecord) -> SavedAgent:
        spec = self._stored(record)
        return SavedAgent(
            spec,
            record.created_at,
            record.updated_at,
            self.path(spec.name),
            self._file_status(spec),
        )

    def _file_status(self, spec: AgentSpec) -> FileStatus:
        path = self.path(spec.name)
        if not path.exists():
            return "missing"
        try:
            on_disk = load_spec_file(path)
        except ConfigError:
            return "invalid"
        return "same" if on_disk == spec else "edited"

    def _write_file(
        self, spec: AgentSpec, *, previous: AgentSpec | None, force: bool, source: Path | None
    ) -> None:
        """Write the YAML file atomically, unless that would drop an edit made by hand: the
        file may be replaced only if it is missing, is the source being applied, or holds the
        previous spec or already the new one."""
        path = self.path(spec.name)
        applying = source is not None and path.exists() and source.samefile(path)
        if not (force or applying) and path.exists():
            try:
                on_disk: AgentSpec | None = load_spec_file(path)
            except ConfigError:
                on_disk = None
            if on_disk is None or on_disk not in (previous, spec):
                whose = "differs from the database" if previous else "has no database record"
                raise ConfigError(
                    f"{path} {whose} (edited by hand?); apply it with "
                    f"`tradepit agents update {spec.name} --file {path}`, or pass --force "
                    "to overwrite it"
                )
        self.directory.mkdir(parents=True, exist_ok=True)
        text = _HEADER.format(name=spec.name) + yaml.dump(
            spec.model_dump(mode="json"),
            Dumper=_Dumper,
            sort_keys=False,
            allow_unicode=True,
            width=96,
        )
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=f".{spec.name}.")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _duplicate(self, name: str) -> ConfigError:
        return ConfigError(
            f"an agent named {name!r} already exists; change it with "
            f"`tradepit agents update {name}`, or choose another name"
        )

    def _record(self, session: Session, name: str) -> AgentSpecRecord:
        """The saved agent `name`'s row; a `ConfigError` listing the known names if none."""
        record = session.get(AgentSpecRecord, name)
        if record is None:
            raise self._unknown(name)
        return record

    def _unknown(self, name: str) -> ConfigError:
        known = self.names()
        listing = f"known: {', '.join(known)}" if known else "no agents are saved yet"
        return ConfigError(f"no agent named {name!r}; {listing}")


_HEADER = (
    "# tradepit agent {name!r}. The database holds the record; after editing this file, apply\n"
    "# it with: tradepit agents update {name} --file <this file>\n"
)


class _Dumper(yaml.SafeDumper):
    """Safe YAML, with multi-line text (a persona) as a readable literal block."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)
