"""providers.yaml: typed loading, clear errors, availability, and a live check against loopback
servers speaking the OpenAI chat-completions and Anthropic messages wire formats."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from agents.availability import availability, check_model
from agents.providers import Provider, ProviderError, load_providers
from orchestration.cli import app
from trading.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_file_covers_every_named_provider() -> None:
    config = load_providers(ROOT / "providers.yaml")
    assert {
        "openai",
        "anthropic",
        "google",
        "groq",
        "deepseek",
        "xai",
        "openrouter",
        "ollama",
        "local-openai",
    } <= set(config.providers)
    assert config.providers["ollama"].base_url == "http://localhost:11434"
    assert config.resolve("deep").reference == "anthropic:claude-sonnet-4-5"
    assert config.resolve("fast").litellm_model == "openai/gpt-4o-mini"


def test_no_key_is_ever_stored_in_the_file() -> None:
    text = (ROOT / "providers.yaml").read_text()
    assert "api_key:" not in text
    assert "sk-" not in text


def test_the_stored_form_keeps_key_names_urls_and_prices_but_no_password() -> None:
    config = load_providers(ROOT / "providers.yaml")
    hosted = config.providers["openai"].model_copy(
        update={"base_url": "https://user:hunter2@llm.example.com:8443/v1?region=eu"}
    )
    stored = config.model_copy(
        update={"providers": {**config.providers, "openai": hosted}}
    ).stored_form()
    openai = stored["providers"]["openai"]
    assert openai["base_url"] == "https://llm.example.com:8443/v1?region=eu"
    assert openai["api_key_env"] == "OPENAI_API_KEY"
    assert openai["models"]["gpt-4o-mini"]["input_per_mtok"] == "0.15"
    assert stored["aliases"] == config.aliases
    assert "hunter2" not in json.dumps(stored)
    assert stored["providers"]["anthropic"]["base_url"] == "https://api.anthropic.com"


def test_cost_is_priced_per_million_tokens() -> None:
    ref = load_providers(ROOT / "providers.yaml").resolve("anthropic:claude-sonnet-4-5")
    assert ref.info.cost(1_000, 500) == Decimal("0.0105")  # 1000*3/1e6 + 500*15/1e6


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "providers.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


GOOD = {
    "providers": {
        "openai": {
            "protocol": "openai",
            "base_url": "https://api.openai.com/v1",
            "api_key_env": "OPENAI_API_KEY",
            "models": {"gpt-4o-mini": {"input_per_mtok": 0.15, "output_per_mtok": 0.6}},
        }
    }
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["providers"]["openai"].update(api_key="sk-x"),
            "providers.openai.api_key: unknown field; remove it or check its spelling",
        ),
        (
            lambda d: d["providers"]["openai"].pop("api_key_env"),
            "api_key_env is required unless key_required is false",
        ),
        (lambda d: d["providers"]["openai"].update(protocol="smoke"), "providers.openai.protocol"),
        (
            lambda d: d.update(aliases={"fast": "openai:gpt-9"}),
            "openai lists no model 'gpt-9'; add it with its prices under providers.openai.models",
        ),
        (
            lambda d: d["providers"]["openai"]["models"]["gpt-4o-mini"].update(input_per_mtok=-1),
            "input_per_mtok: Input should be greater than or equal to 0",
        ),
    ],
)
def test_a_bad_file_names_the_field_and_the_fix(tmp_path: Path, change: Any, message: str) -> None:
    data = json.loads(json.dumps(GOOD))
    change(data)
    with pytest.raises(ConfigError) as error:
        load_providers(write(tmp_path, data))
    assert message in str(error.value)
    assert str(tmp_path) in str(error.value)


def test_unknown_references_list_what_exists(tmp_path: Path) -> None:
    config = load_providers(write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match="unknown provider 'mistral'; known: openai"):
        config.resolve("mistral:large")
    with pytest.raises(ConfigError, match="must read provider:model"):
        config.resolve("gpt-4o-mini")


def test_availability_needs_the_key_or_an_answering_local_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = load_providers(write(tmp_path, GOOD)).providers["openai"]
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert availability(provider).reason == "set $OPENAI_API_KEY to enable it"
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    assert availability(provider).usable


# ---- loopback servers speaking the real wire formats -----------------------------------------


class Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, dict[str, str], dict[str, Any]]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        if self.path.endswith("/chat/completions"):
            reply: dict[str, Any] = {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": "OK"},
                    }
                ],
                "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
            }
        else:  # Anthropic messages
            reply = {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [{"type": "text", "text": "OK"}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 14, "output_tokens": 1},
            }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_llm() -> Iterator[tuple[int, list[tuple[str, dict[str, str], dict[str, Any]]]]]:
    seen: list[tuple[str, dict[str, str], dict[str, Any]]] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (Recorder,), {"seen": seen}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port, seen
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def loopback_providers(tmp_path: Path, port: int) -> Path:
    return write(
        tmp_path,
        {
            "aliases": {"quick": "anthropic:claude-haiku-4-5"},
            "providers": {
                "openai": {
                    "protocol": "openai",
                    "base_url": f"http://127.0.0.1:{port}/v1",
                    "api_key_env": "OPENAI_API_KEY",
                    "models": {"gpt-4o-mini": {"input_per_mtok": 0.15, "output_per_mtok": 0.6}},
                },
                "anthropic": {
                    "protocol": "anthropic",
                    "base_url": f"http://127.0.0.1:{port}",
                    "api_key_env": "ANTHROPIC_API_KEY",
                    "models": {"claude-haiku-4-5": {"input_per_mtok": 1, "output_per_mtok": 5}},
                },
                "local": {
                    "protocol": "openai",
                    "base_url": f"http://127.0.0.1:{port}/v1",
                    "key_required": False,
                    "models": {"default": {"input_per_mtok": 0, "output_per_mtok": 0}},
                },
            },
        },
    )


def test_check_speaks_openai_chat_completions(
    tmp_path: Path, fake_llm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, seen = fake_llm
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    config = load_providers(loopback_providers(tmp_path, port))
    result = check_model(config.resolve("openai:gpt-4o-mini"))
    path, headers, body = seen[-1]
    assert path == "/v1/chat/completions"
    assert headers["authorization"] == "Bearer sk-test-123"
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"][0]["role"] == "user"
    assert (result.reply, result.prompt_tokens, result.completion_tokens) == ("OK", 12, 1)
    assert result.cost_usd == Decimal("0.0000024")  # 12*0.15/1e6 + 1*0.6/1e6


def test_check_speaks_anthropic_messages(
    tmp_path: Path, fake_llm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, seen = fake_llm
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ak-test-456")
    config = load_providers(loopback_providers(tmp_path, port))
    result = check_model(config.resolve("quick"))
    path, headers, body = seen[-1]
    assert path == "/v1/messages"
    # The SDK's own choice of header for the key (x-api-key, or a bearer token in 2.16).
    sent = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
    assert sent == "ak-test-456"
    assert "anthropic-version" in headers
    assert body["max_tokens"] == 5
    assert (result.reply, result.prompt_tokens) == ("OK", 14)


def test_cli_lists_and_checks_providers(
    tmp_path: Path, fake_llm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, _ = fake_llm
    path = loopback_providers(tmp_path, port)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    runner = CliRunner()
    listed = runner.invoke(app, ["providers", "list", "--providers", str(path), "--json"])
    assert listed.exit_code == 0, listed.stderr
    rows = {r["provider"]: r for r in json.loads(listed.stdout)["providers"]}
    assert rows["openai"]["usable"] is False
    assert rows["openai"]["reason"] == "set $OPENAI_API_KEY to enable it"
    assert rows["local"]["usable"] is True
    missing = runner.invoke(app, ["providers", "check", "openai", "--providers", str(path)])
    assert missing.exit_code == 2
    assert "OPENAI_API_KEY is not set" in missing.stderr
    checked = runner.invoke(
        app, ["providers", "check", "local", "--providers", str(path), "--json"]
    )
    assert checked.exit_code == 0, checked.stderr
    assert json.loads(checked.stdout)["reply"] == "OK"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_check_that_cannot_connect_names_the_host(
    tmp_path: Path, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ak-test-456")
    config = load_providers(loopback_providers(tmp_path, 9))  # nothing listens on port 9
    with pytest.raises(ProviderError, match=r"the check call failed: .*127\.0\.0\.1:9"):
        check_model(config.resolve(provider + ":" + next(iter(config.providers[provider].models))))


def test_an_ollama_check_that_cannot_connect_shows_no_object_reprs(tmp_path: Path) -> None:
    # litellm's message carried "ssl:<ssl.SSLContext object at 0x7f90296a9490>".
    ollama = {
        "protocol": "ollama",
        "base_url": "http://127.0.0.1:9",  # nothing listens on port 9
        "models": {"llama3.1": {"input_per_mtok": 0, "output_per_mtok": 0}},
    }
    config = load_providers(write(tmp_path, {"providers": {"ollama": ollama}}))
    with pytest.raises(ProviderError) as raised:
        check_model(config.resolve("ollama:llama3.1"), timeout=5)
    said = str(raised.value)
    assert "127.0.0.1:9" in said
    assert "object at 0x" not in said


def test_a_calls_timeout_scales_with_max_tokens_on_a_local_server_or_where_configured() -> None:
    def provider(**fields: object) -> Provider:
        base = {"protocol": "openai", "base_url": "http://127.0.0.1:1/v1"}
        return Provider.model_validate(
            {**base, **fields, "models": {"m": {"input_per_mtok": 0, "output_per_mtok": 0}}}
        )

    local = provider(key_required=False)
    assert local.call_timeout(60, 1024) == pytest.approx(60 + 1024 / 20)  # 20 tokens/s
    assert local.max_in_flight == 1
    hosted = provider(api_key_env="K")
    assert (hosted.call_timeout(60, 1024), hosted.max_in_flight) == (60, None)
    tuned = provider(api_key_env="K", tokens_per_s=100, concurrency=4)
    assert (tuned.call_timeout(60, 1000), tuned.max_in_flight) == (70, 4)
