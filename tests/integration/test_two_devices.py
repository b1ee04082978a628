"""One person, two desktops: two headless agents on two X displays signed in as the same user.

Real parts: two ``main.py --headless`` processes, each on its own Xvfb with its own agent folder
(so its own device id), a live server over HTTP, the codes by SMTP. The busy desktop types while
the other one sits idle; the idle device's minutes must never erase the busy one's work.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from headless_support import AgentProcess, AgentServer, agent_env, minute, xdotool
from support import wait_until

pytestmark = pytest.mark.integration

TYPED_KEYS = 40


def wait_for_listeners(agent: AgentProcess) -> None:
    wait_until(lambda: "input listeners started" in agent.text(), 30, message="the agent's listeners")


def test_an_idle_laptop_never_erases_the_desktops_work_and_both_devices_are_listed(
    agent_server: AgentServer, smtp_server: Any, xvfb: Any, second_xvfb: Any, tmp_path: Path
) -> None:
    server = agent_server
    server.set_user_config(capture_enabled=False, idle_threshold=30, config_poll_interval=5)
    desk_env = {**agent_env(xvfb, tmp_path, server, "desk"), "VINOVA_DEVICE_NAME": "desk"}
    laptop_env = {**agent_env(second_xvfb, tmp_path, server, "laptop"), "VINOVA_DEVICE_NAME": "laptop"}
    desk = AgentProcess(desk_env, tmp_path / "desk.out", subprocess.PIPE)
    laptop = AgentProcess(laptop_env, tmp_path / "laptop.out", subprocess.PIPE)
    try:
        for mails_before, agent in enumerate((desk, laptop)):
            agent.sign_in(smtp_server, mails_before=mails_before)
            wait_for_listeners(agent)
        device_ids = {
            name: json.loads((tmp_path / name / "device.json").read_text())["id"]
            for name in ("desk", "laptop")
        }
        assert device_ids["desk"] != device_ids["laptop"]

        # Only the desk's display gets input; the laptop's display is left alone.
        xdotool("key", "--delay", "20", *(["a"] * TYPED_KEYS), display=xvfb.name)

        def both_devices_posted_a_minute_with_the_typing() -> list[dict[str, Any]] | None:
            samples = server.samples(view="devices")
            desk_minutes = {minute(s) for s in samples if s["device"]["id"] == device_ids["desk"]}
            laptop_minutes = {minute(s) for s in samples if s["device"]["id"] == device_ids["laptop"]}
            typed = sum(s["keys"] for s in samples if s["device"]["id"] == device_ids["desk"])
            shared = desk_minutes & laptop_minutes
            return samples if typed >= TYPED_KEYS and shared else None

        found = wait_until(both_devices_posted_a_minute_with_the_typing, 150, interval=1,
                           message="both devices' minutes with the desk's typing")
        samples = found or []
    finally:
        desk.stop()
        laptop.stop()

    by_device: dict[str, dict[Any, dict[str, Any]]] = {}
    for sample in samples:
        by_device.setdefault(sample["device"]["id"], {})[minute(sample)] = sample
    desk_rows, laptop_rows = by_device[device_ids["desk"]], by_device[device_ids["laptop"]]
    assert sum(row["keys"] for row in desk_rows.values()) == TYPED_KEYS
    assert sum(row["keys"] for row in laptop_rows.values()) == 0
    assert {row["device"]["name"] for row in desk_rows.values()} == {"desk"}
    assert {row["device"]["name"] for row in laptop_rows.values()} == {"laptop"}

    # The merged view: per minute the busier device's seconds and state, the counts of both.
    merged = {minute(s): s for s in server.samples(view="merged")}
    assert sum(row["keys"] for row in merged.values()) == TYPED_KEYS
    for moment, desk_row in desk_rows.items():
        laptop_row = laptop_rows.get(moment)
        expected_active = max(desk_row["active_seconds"], laptop_row["active_seconds"] if laptop_row else 0)
        assert merged[moment]["active_seconds"] == expected_active
        if desk_row["keys"]:
            assert merged[moment]["state"] == "tracking"
            assert merged[moment]["keys"] == desk_row["keys"]

    # The reports read the same merged minutes and the admin sees both devices.
    date = min(desk_rows).date().isoformat()
    diary = server.get("/api/reports/diary", username="ann", date=date, tz="UTC")
    assert diary["total"]["keys"] == TYPED_KEYS
    team = server.get("/api/reports/team", tz="UTC")
    ann = next(user for user in team["users"] if user["username"] == "ann")
    assert {device["name"] for device in ann["devices"]} == {"desk", "laptop"}
