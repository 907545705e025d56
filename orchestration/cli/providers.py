"""`tradepit providers`: the LLM providers of providers.yaml, which are usable here, and a live
check of one."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from orchestration.cli.common import (
    JsonFlag,
    ProvidersFile,
    clean_errors,
    command_group,
    fail,
    print_table,
    stderr,
    stdout,
)

providers_app = command_group(
    "LLM providers from providers.yaml: which are usable here, and a live check."
)


@providers_app.command("list")
@clean_errors
def providers_list(providers: ProvidersFile = None, as_json: JsonFlag = False) -> None:
    """Each provider, its models with prices and cut-offs, and whether it is usable here."""
    from agents.availability import availability
    from agents.providers import load_providers

    config = load_providers(providers)
    statuses = {name: availability(provider) for name, provider in config.providers.items()}
    if as_json:
        rows = [
            {
                "provider": name,
                "protocol": provider.protocol,
                "base_url": provider.base_url,
                "api_key_env": provider.api_key_env,
                "usable": statuses[name].usable,
                "reason": statuses[name].reason,
                "models": {
                    model: {
                        "input_per_mtok": str(info.input_per_mtok),
                        "output_per_mtok": str(info.output_per_mtok),
                        "cutoff": info.cutoff.isoformat() if info.cutoff else None,
                    }
                    for model, info in provider.models.items()
                },
            }
            for name, provider in config.providers.items()
        ]
        print(json.dumps({"providers": rows, "aliases": config.aliases}, indent=2))
        return
    table = Table(title="LLM providers")
    for column in ("provider", "usable", "why", "models ($ in / out per Mtok)"):
        table.add_column(column)
    for name, provider in config.providers.items():
        models = ", ".join(
            f"{m} ({info.input_per_mtok}/{info.output_per_mtok})"
            for m, info in provider.models.items()
        )
        status = statuses[name]
        usable = "[green]yes[/]" if status.usable else "[red]no[/]"
        table.add_row(name, usable, status.reason, models)
    print_table(stdout, table)
    if config.aliases:
        stdout.print("aliases: " + ", ".join(f"{a} = {t}" for a, t in config.aliases.items()))


@providers_app.command("check")
@clean_errors
def providers_check(
    name: Annotated[
        str, typer.Argument(help="A provider (its first model), provider:model, or alias.")
    ],
    providers: ProvidersFile = None,
    as_json: JsonFlag = False,
) -> None:
    """Make one tiny real call (a few tokens) to prove a provider's key, URL and model work,
    then one scripted tool round to see whether the model really calls tools."""
    from agents.availability import check_model
    from agents.providers import ProviderError, load_providers
    from agents.tool_probe import probe_tools

    config = load_providers(providers)
    if ":" not in name and name not in config.aliases:
        provider = config.providers.get(name)
        if provider is None:
            fail(f"unknown provider {name!r}; known: {', '.join(sorted(config.providers))}")
        name = f"{name}:{next(iter(provider.models))}"
    ref = config.resolve(name)
    try:
        result = check_model(ref)
    except ProviderError as error:
        stderr.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    probe = probe_tools(ref)
    if as_json:
        print(
            json.dumps(
                {
                    "model": result.reference,
                    "reply": result.reply,
                    "prompt_tokens": result.prompt_tokens,
                    "completion_tokens": result.completion_tokens,
                    "cost_usd": str(result.cost_usd),
                    "latency_s": round(result.latency_s, 3),
                    "calls_tools": probe.calls_tools,
                    "tools_detail": probe.detail,
                    "tools_in_providers_yaml": ref.info.tools,
                }
            )
        )
        return
    stdout.print(
        f"{result.reference}: answered {result.reply!r} in {result.latency_s:.2f}s, "
        f"{result.prompt_tokens}+{result.completion_tokens} tokens, ${result.cost_usd:.6f}"
    )
    verdict = {True: "yes", False: "NO", None: "not known"}[probe.calls_tools]
    stdout.print(f"calls tools: {verdict}, {probe.detail}", markup=False, highlight=False)
    if probe.calls_tools is False and ref.info.tools:
        stdout.print(
            f"  set tools: false under providers.{ref.provider_name}.models.{ref.model} in "
            "providers.yaml; agents on it then need tools: [] (they judge from their prompt)",
            markup=False,
            highlight=False,
        )
    elif probe.calls_tools and not ref.info.tools:
        stdout.print("  providers.yaml says tools: false; it may be set to true", markup=False)
