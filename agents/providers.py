"""LLM providers: `providers.yaml` loaded into frozen, closed pydantic models.

A provider names its wire protocol, base URL and the environment variable holding its key
(never the key), and prices per million tokens for each model; model references read
`provider:model` or an alias. A bad file is reported with the field and the fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, ValidationError, model_validator

from trading.closed import Closed
from trading.config_files import field_of, problem, read_yaml
from trading.errors import ConfigError, RetryableError

PROVIDERS_ENV = "TRADEPIT_PROVIDERS"


class ProviderError(RetryableError):
    """A provider did not answer as it should: network, authentication, rate limit, server."""


MILLION = Decimal(1_000_000)
LOCAL_CONCURRENCY = 1
LOCAL_TOKENS_PER_S = 20.0

StructuredOutput = Literal["json_schema", "json_mode", "tool_call", "none"]


class ModelInfo(Closed):
    input_per_mtok: Decimal = Field(ge=0, description="USD per million prompt tokens.")
    output_per_mtok: Decimal = Field(ge=0, description="USD per million completion tokens.")
    cutoff: date | None = Field(None, description="Training-data cut-off, where published.")
    reasoning: bool = Field(
        False,
        description="An OpenAI reasoning model (o-series, gpt-5): sent max_completion_tokens "
        "instead of max_tokens, and no temperature, which such models refuse.",
    )

    structured_output: StructuredOutput = Field(
        "none",
        description="How the model can be held to the answer's JSON schema: json_schema "
        "(response_format json_schema: OpenAI, vLLM, LM Studio, Ollama), json_mode "
        "(response_format json_object with a schema: llama.cpp's server), tool_call (the "
        "answer as the arguments of a submit_thesis tool call), or none (the schema is only "
        "in the prompt).",
    )
    tools: bool = Field(
        True,
        description="Whether the model really calls tools (`tradepit providers check` tests "
        "it); an agent holding tools refuses a model that does not.",
    )

    @model_validator(mode="after")
    def _tool_output_needs_tools(self) -> Self:
        if self.structured_output == "tool_call" and not self.tools:
            raise ValueError("structured_output tool_call needs a model that calls tools")
        return self

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        return (
            prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok
        ) / MILLION


class Provider(Closed):
    protocol: Literal["openai", "anthropic", "gemini", "ollama"] = Field(
        description="Wire protocol; every OpenAI-compatible server uses openai."
    )
    base_url: str = Field(pattern=r"^https?://", description="API root URL.")
    api_key_env: str | None = Field(
        None,
        pattern=r"^[A-Z][A-Z0-9_]*$",
        description="Name of the environment variable holding the key (never the key).",
    )
    key_required: bool = Field(True, description="False for local servers that take no key.")
    concurrency: int | None = Field(
        None,
        ge=1,
        description="Requests in flight at once to this provider, across the process's agents; "
        "default 1 for a local server (it answers one at a time and queues the rest), no limit "
        "for a hosted one.",
    )
    tokens_per_s: float | None = Field(
        None,
        gt=0,
        description="The slowest generation speed to wait for: a call may last the agent's "
        "timeout_s plus max_tokens at this speed. Default 20 for a local server; a hosted one "
        "gets timeout_s alone.",
    )
    models: dict[str, ModelInfo] = Field(min_length=1)

    @model_validator(mode="after")
    def _key_source(self) -> Self:
        if self.protocol != "ollama" and self.key_required and self.api_key_env is None:
            raise ValueError("api_key_env is required unless key_required is false")
        return self

    @property
    def local(self) -> bool:
        return self.protocol == "ollama" or not self.key_required

    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None

    @property
    def max_in_flight(self) -> int | None:
        """`concurrency`, or its default; None: no limit."""
        if self.concurrency is not None:
            return self.concurrency
        return LOCAL_CONCURRENCY if self.local else None

    def call_timeout(self, timeout_s: float, max_tokens: int) -> float:
        """How long one call may take: `timeout_s`, plus `max_tokens` at `tokens_per_s`."""
        speed = self.tokens_per_s or (LOCAL_TOKENS_PER_S if self.local else None)
        return timeout_s + (max_tokens / speed if speed else 0.0)


class ProvidersConfig(Closed):
    aliases: dict[str, str] = Field(default_factory=dict)
    providers: dict[str, Provider] = Field(min_length=1)

    @model_validator(mode="after")
    def _aliases_resolve(self) -> Self:
        for alias, target in self.aliases.items():
            self.resolve(target, _alias=alias)
        return self

    def resolve(self, reference: str, *, _alias: str | None = None) -> ModelRef:
        """A `provider:model` reference or an alias, checked against the file."""
        target = self.aliases.get(reference, reference) if _alias is None else reference
        provider_name, sep, model = target.partition(":")
        where = f"alias {_alias!r} -> {target!r}" if _alias else repr(reference)
        if not sep or not model:
            raise ConfigError(
                f"model reference {where} must read provider:model (e.g. "
                f"anthropic:claude-sonnet-4-5) or be an alias: {', '.join(sorted(self.aliases))}"
            )
        provider = self.providers.get(provider_name)
        if provider is None:
            raise ConfigError(
                f"model reference {where}: unknown provider {provider_name!r}; "
                f"known: {', '.join(sorted(self.providers))}"
            )
        info = provider.models.get(model)
        if info is None:
            raise ConfigError(
                f"model reference {where}: {provider_name} lists no model {model!r}; "
                f"add it with its prices under providers.{provider_name}.models, or use one of: "
                f"{', '.join(sorted(provider.models))}"
            )
        return ModelRef(provider_name, model, provider, info)

    def stored_form(self) -> dict[str, Any]:
        """The config as a run stores it, so that a replay needs no providers file: aliases,
        base URLs, the names of the key variables, models and prices. Keys are never in it
        (they live in the environment), and a password written into a base URL is left out:
        a replay calls no model, so it has no use for one."""
        raw = self.model_dump(mode="json")
        for provider in raw["providers"].values():
            provider["base_url"] = _without_credentials(provider["base_url"])
        return raw


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


@dataclass(frozen=True, slots=True)
class ModelRef:
    provider_name: str
    model: str
    provider: Provider
    info: ModelInfo

    @property
    def reference(self) -> str:
        return f"{self.provider_name}:{self.model}"

    @property
    def litellm_model(self) -> str:
        """The model name litellm routes by: its provider prefix comes from the protocol."""
        prefix = {
            "openai": "openai",
            "anthropic": "anthropic",
            "gemini": "gemini",
            "ollama": "ollama_chat",
        }[self.provider.protocol]
        return f"{prefix}/{self.model}"


def default_path() -> Path:
    """$TRADEPIT_PROVIDERS, else ./providers.yaml, else the one in this checkout."""
    configured = os.environ.get(PROVIDERS_ENV)
    if configured:
        return Path(configured)
    here = Path.cwd() / "providers.yaml"
    return here if here.exists() else Path(__file__).resolve().parents[1] / "providers.yaml"


def load_providers(path: Path | None = None) -> ProvidersConfig:
    path = path or default_path()
    raw = read_yaml(path, fix=f"set {PROVIDERS_ENV}")
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: expected a mapping with 'providers', got {type(raw).__name__}")
    try:
        return ProvidersConfig.model_validate(raw)
    except ValidationError as error:
        problems = [
            f"{field_of(item['loc'])}: {problem(item)} (got {item.get('input')!r})"
            for item in error.errors()
        ]
        raise ConfigError(f"{path}: " + "; ".join(problems)) from None
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
