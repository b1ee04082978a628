"""Fuzz of the agent's config parsing (issue 10 item 13): mutated answers and caches never crash it.

1,200 mutated ``/get-config`` payloads go through the real poller and 1,200 mutated cache files
through the real cache reader: the only errors allowed out of the parser are ConfigError and
PermanentError, and the last good config always stays in force.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from config_updater import ConfigPoller, load_cached_config, save_cached_config
from contract.config_schema import AgentConfig
from contract.errors import ConfigError, PermanentError

SEED = 20261125
ROUNDS = 1200
ODD_VALUES: tuple[Any, ...] = (
    None, True, False, 0, -1, 2**63, -(2**63), 1e308, float("inf"), float("nan"), "", "\ud800", "x" * 10_000,
    [], {}, [[[]]], {"a": {"b": {}}}, "300", 3.5, "Europe/Berlin", "Mars/Olympus",
)


def deep(levels: int) -> Any:
    value: Any = []
    for _ in range(levels):
        value = [value]
    return value


def mutate(rng: random.Random, good: dict[str, Any]) -> Any:
    body: dict[str, Any] = dict(good)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        keys = list(body)
        if choice < 0.3 and keys:
            body[rng.choice(keys)] = rng.choice(ODD_VALUES)
        elif choice < 0.45 and keys:
            del body[rng.choice(keys)]
        elif choice < 0.6:
            body[rng.choice(["extra", "\ud800", "", "version", "x" * 300])] = rng.choice(ODD_VALUES)
        elif choice < 0.7 and keys:
            body[rng.choice(keys)] = deep(rng.choice([10, 1000, 5000]))
        elif choice < 0.8:
            return rng.choice(ODD_VALUES)
        elif keys:
            key = rng.choice(keys)
            value = body[key]
            body[key] = value * rng.choice([-1, 0, 10**6]) if isinstance(value, int) else value
    return body


class Answer:
    def __init__(self, payload: Any) -> None:
        self.payload = payload
        self.etag = '"e"'


class Source:
    def __init__(self) -> None:
        self.payload: Any = None

    def get_config(self, etag: str | None) -> Answer:
        return Answer(self.payload)


def test_mutated_config_answers_never_crash_the_poller_and_keep_the_last_good_config(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    good = AgentConfig(screenshot_interval=120).as_dict()
    source = Source()
    poller = ConfigPoller(source, tmp_path / "config.json")
    source.payload = dict(good)
    poller.poll()
    applied = 0
    for _ in range(ROUNDS):
        payload = mutate(rng, good)
        source.payload = payload
        try:
            AgentConfig.from_mapping(payload)
        except (ConfigError, PermanentError):
            pass
        except (AttributeError, TypeError):
            assert not isinstance(payload, dict)  # only a non-object fails this way; the client refuses those
        if isinstance(payload, dict):
            applied += poller.poll()
            assert isinstance(poller.current, AgentConfig)
    assert applied < ROUNDS  # most mutations are refused, and refusing kept a valid config in force
    assert load_cached_config(tmp_path / "config.json") is not None


def test_mutated_cache_files_are_ignored_never_crash_the_start(tmp_path: Path) -> None:
    rng = random.Random(SEED + 1)
    path = tmp_path / "config.json"
    save_cached_config(path, AgentConfig(), '"e"')
    good = path.read_text()
    for number in range(ROUNDS):
        text = good
        if number % 10 == 0:
            text = '{"config": ' + "[" * 100_000 + "]" * 100_000 + "}"
        elif number % 10 == 1:
            try:
                text = json.dumps({"config": mutate(rng, AgentConfig().as_dict()), "etag": None})
            except (RecursionError, ValueError):  # too deep (or a lone surrogate) for json itself to write
                text = '{"config": {"idle_threshold": ' + "[" * 5000 + "]" * 5000 + "}}"
        else:
            characters = list(text)
            for _ in range(rng.randint(1, 6)):
                position = rng.randrange(len(characters))
                characters[position] = rng.choice(['"', "{", "}", "[", "]", ",", ":", "0", "\\", "\x00", "é"])
            text = "".join(characters)
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        cached = load_cached_config(path)
        assert cached is None or isinstance(cached[0], AgentConfig)
        poller = ConfigPoller(Source(), path)
        assert isinstance(poller.current, AgentConfig)
