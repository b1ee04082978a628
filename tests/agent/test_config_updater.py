"""The config schema: every bad field is named, bools are not ints, defaults are valid."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from config_updater import ConfigPoller, describe_changes, load_cached_config
from contract.config_schema import ADDED_LATER, DEFAULTS, AgentConfig, validate_config, validate_overrides
from contract.errors import ConfigError, PermanentError, SessionExpired, TransientError


def test_defaults_form_a_valid_complete_config() -> None:
    config = AgentConfig.from_mapping({**DEFAULTS, "version": 3})
    assert config.as_dict() == DEFAULTS


def test_every_bad_field_is_named_in_one_error() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config({"screenshot_interval": 5, "jpeg_quality": "high", "colour": "red"})
    assert set(caught.value.errors) == {"screenshot_interval", "jpeg_quality", "colour"}
    assert "between 10 and 86400" in caught.value.errors["screenshot_interval"]


def test_a_bool_is_not_accepted_as_an_int() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config({"idle_threshold": True})
    assert caught.value.errors == {"idle_threshold": "must be a whole number"}


def test_an_int_is_not_accepted_as_a_bool() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config({"capture_enabled": 1})
    assert list(caught.value.errors) == ["capture_enabled"]


@pytest.mark.parametrize("zone", ["local", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata"])
def test_timezone_accepts_iana_names_and_local(zone: str) -> None:
    assert validate_config({"timezone": zone}) == {"timezone": zone}


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "UTC+2", 5])
def test_timezone_rejects_anything_else(zone: object) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config({"timezone": zone})
    assert list(caught.value.errors) == ["timezone"]


def test_served_config_without_the_later_settings_takes_their_defaults() -> None:
    older_server = {key: value for key, value in DEFAULTS.items() if key not in ADDED_LATER}
    older_server["employee_delete_window_minutes"] = 15
    config = AgentConfig.from_mapping(older_server)
    assert config.employee_delete_window_minutes == 15 and config.idle_prompt is True
    assert config.upload_delay_seconds == 0


def test_complete_config_requires_every_key() -> None:
    partial = dict(DEFAULTS)
    del partial["blur_screenshots"]
    with pytest.raises(ConfigError) as caught:
        AgentConfig.from_mapping(partial)
    assert caught.value.errors == {"blur_screenshots": "is missing"}


def test_override_null_removes_but_unknown_keys_are_still_refused() -> None:
    assert validate_overrides({"jpeg_quality": None, "idle_threshold": 60}) == {
        "jpeg_quality": None,
        "idle_threshold": 60,
    }
    with pytest.raises(ConfigError) as caught:
        validate_overrides({"nonsense": None})
    assert list(caught.value.errors) == ["nonsense"]


def test_changes_from_lists_old_and_new_values() -> None:
    old = AgentConfig()
    new = AgentConfig(screenshot_interval=60, blur_screenshots=True)
    assert new.changes_from(old) == {"screenshot_interval": (300, 60), "blur_screenshots": (False, True)}


# --------------------------------------------------------------------------- the agent's poller
class FakeAnswer:
    def __init__(self, payload: dict[str, Any] | None, etag: str | None) -> None:
        self.payload = payload
        self.etag = etag


class FakeSource:
    """Serves queued answers or raises queued errors, recording the If-None-Match it saw."""

    def __init__(self) -> None:
        self.answers: list[FakeAnswer | Exception] = []
        self.etags_seen: list[str | None] = []

    def get_config(self, etag: str | None) -> FakeAnswer:
        self.etags_seen.append(etag)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def served(**changes: Any) -> dict[str, Any]:
    return {**DEFAULTS, **changes, "version": 1}


def test_poller_applies_a_change_once_and_sends_the_etag_back(tmp_path: Path) -> None:
    source = FakeSource()
    applied: list[dict[str, tuple[Any, Any]]] = []
    poller = ConfigPoller(source, tmp_path / "config.json", lambda config, changes: applied.append(changes))
    source.answers = [FakeAnswer(served(screenshot_interval=60), '"v1"'), FakeAnswer(None, '"v1"')]
    assert poller.poll() is True
    assert poller.poll() is False
    assert applied == [{"screenshot_interval": (300, 60)}]
    assert source.etags_seen == [None, '"v1"']
    assert poller.current.screenshot_interval == 60


def test_a_listener_set_later_gets_the_changes_and_none_is_fine(tmp_path: Path) -> None:
    source = FakeSource()
    poller = ConfigPoller(source, tmp_path / "config.json")  # no listener yet: changes still apply
    source.answers = [
        FakeAnswer(served(idle_threshold=60), '"v1"'), FakeAnswer(served(idle_threshold=90), '"v2"')
    ]
    assert poller.poll() is True and poller.current.idle_threshold == 60
    applied: list[dict[str, tuple[Any, Any]]] = []
    poller.listen(lambda config, changes: applied.append(changes))
    assert poller.poll() is True
    assert applied == [{"idle_threshold": (60, 90)}]


@pytest.mark.parametrize(
    "failure",
    [
        TransientError("timeout"),
        PermanentError("not JSON"),
        FakeAnswer(served(screenshot_interval="fast"), '"v2"'),
        FakeAnswer(served(jpeg_quality=500), '"v2"'),
        FakeAnswer({"screenshot_interval": 60}, '"v2"'),
    ],
)
def test_poller_keeps_the_last_good_config_on_any_bad_answer(
    tmp_path: Path, failure: Any, caplog: pytest.LogCaptureFixture
) -> None:
    source = FakeSource()
    poller = ConfigPoller(source, tmp_path / "config.json", lambda config, changes: None)
    source.answers = [FakeAnswer(served(idle_threshold=120), '"v1"'), failure]
    poller.poll()
    with caplog.at_level(logging.WARNING, logger="config_updater"):
        assert poller.poll() is False
    assert poller.current.idle_threshold == 120
    assert len(caplog.records) == 1
    assert "keeping the last good config" in caplog.records[0].getMessage()


def test_session_expiry_is_not_swallowed(tmp_path: Path) -> None:
    source = FakeSource()
    poller = ConfigPoller(source, tmp_path / "config.json", lambda config, changes: None)
    source.answers = [SessionExpired()]
    with pytest.raises(SessionExpired):
        poller.poll()


def test_the_cache_gives_an_offline_start_the_last_good_config(tmp_path: Path) -> None:
    cache = tmp_path / "agent" / "config.json"
    source = FakeSource()
    source.answers = [FakeAnswer(served(blur_screenshots=True), '"v7"')]
    ConfigPoller(source, cache, lambda config, changes: None).poll()
    assert cache.stat().st_mode & 0o777 == 0o600

    restarted = ConfigPoller(FakeSource(), cache, lambda config, changes: None)
    assert restarted.from_cache
    assert restarted.current.blur_screenshots is True
    assert load_cached_config(cache) == (restarted.current, '"v7"')


def test_a_corrupt_cache_falls_back_to_defaults(tmp_path: Path) -> None:
    cache = tmp_path / "config.json"
    cache.write_text("{not json", encoding="utf-8")
    poller = ConfigPoller(FakeSource(), cache, lambda config, changes: None)
    assert not poller.from_cache
    assert poller.current == AgentConfig()


def test_describe_changes_reads_like_a_sentence() -> None:
    text = describe_changes({"screenshot_interval": (300, 60), "blur_screenshots": (False, True)})
    assert text == "screenshot_interval 300 → 60, blur_screenshots false → true"


def test_the_poller_says_when_the_server_is_unreachable(tmp_path: Path) -> None:
    source = FakeSource()
    poller = ConfigPoller(source, tmp_path / "config.json", lambda config, changes: None)
    source.answers = [TransientError("connection refused"), FakeAnswer(None, None), PermanentError("bad")]
    poller.poll()
    assert poller.unreachable
    poller.poll()
    assert not poller.unreachable
    poller.poll()
    assert not poller.unreachable  # reachable, just a bad answer
