"""The agent's own settings: where it talks to and keeps its files (policy comes from the server)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.device import device_name_error
from contract.errors import ConfigError
from contract.layering import layered_values

DEFAULT_SERVER_URL = "http://127.0.0.1:5000"
LOG_LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR"})
# Each variable the agent reads and the AgentSettings attribute (and command-line flag) it sets.
VARIABLES: Mapping[str, str] = {
    "VINOVA_SERVER_URL": "server_url",
    "VINOVA_AGENT_DIR": "agent_dir",
    "S3_BUCKET": "s3_bucket",
    "S3_PREFIX": "s3_prefix",
    "AWS_REGION": "aws_region",
    "S3_ENDPOINT_URL": "s3_endpoint_url",
    "VINOVA_SPOOL_MAX_MB": "spool_max_mb",
    "VINOVA_LOG_LEVEL": "log_level",
    "VINOVA_DEVICE_NAME": "device_name",
    "VINOVA_CA_BUNDLE": "ca_bundle",
    "VINOVA_ALLOW_NO_INPUT": "allow_no_input",
}
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def default_agent_dir() -> Path:
    """The user's data directory for Vinova on this platform."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "Vinova"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Vinova"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vinova"


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """Where the agent talks to and keeps its files; policy (intervals, blur…) comes from the server."""

    server_url: str = DEFAULT_SERVER_URL
    agent_dir: Path = field(default_factory=default_agent_dir)
    s3_bucket: str | None = None
    s3_prefix: str = ""
    aws_region: str | None = None
    s3_endpoint_url: str | None = None
    spool_max_mb: int = 2048  # VINOVA_SPOOL_MAX_MB: captures pause (never delete) beyond this
    log_level: str = "INFO"
    device_name: str | None = None  # VINOVA_DEVICE_NAME: how this computer is named (default: host name)
    # VINOVA_CA_BUNDLE: the PEM bundle the server's TLS certificate is verified with (default: the system's)
    ca_bundle: Path | None = None
    # VINOVA_ALLOW_NO_INPUT / --allow-no-input: run headless even where input cannot be tracked (no display)
    allow_no_input: bool = False

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        flags: Mapping[str, Any] | None = None,
        dotenv_paths: tuple[Path, ...] | None = None,
    ) -> AgentSettings:
        """Defaults < ``.env`` < environment < command-line flags; a bad value raises ConfigError."""
        # The built app reads the .env beside its executable (an admin may ship one with the server URL).
        frozen = getattr(sys, "frozen", False)
        program_dir = Path(sys.executable).parent if frozen else Path(__file__).resolve().parents[1]
        project_env = program_dir / ".env"
        paths = dotenv_paths if dotenv_paths is not None else (project_env, Path(".env"))
        variable_of = {attribute: variable for variable, attribute in VARIABLES.items()}
        flag_values = {
            variable_of[attribute]: str(value)
            for attribute, value in (flags or {}).items()
            if value is not None and attribute in variable_of
        }
        merged = layered_values({}, paths, os.environ if environ is None else environ, flag_values)
        # An empty variable means "not set": the default stays.
        values: dict[str, Any] = {
            attribute: merged[variable] for variable, attribute in VARIABLES.items() if merged.get(variable)
        }
        errors: dict[str, str] = {}
        if "agent_dir" in values:
            values["agent_dir"] = Path(values["agent_dir"]).expanduser()
        if "spool_max_mb" in values:
            try:
                values["spool_max_mb"] = int(values["spool_max_mb"])
                if values["spool_max_mb"] < 1:
                    raise ValueError
            except ValueError:
                errors["VINOVA_SPOOL_MAX_MB"] = "must be a whole number of megabytes ≥ 1"
        if not str(values.get("server_url", DEFAULT_SERVER_URL)).startswith(("http://", "https://")):
            errors["VINOVA_SERVER_URL"] = "must start with http:// or https://"
        level = str(values.get("log_level", "INFO")).upper()
        if level not in LOG_LEVELS:
            errors["VINOVA_LOG_LEVEL"] = "must be DEBUG, INFO, WARNING or ERROR"
        values["log_level"] = level
        if "device_name" in values:
            values["device_name"] = str(values["device_name"]).strip()
            message = device_name_error(values["device_name"])
            if message is not None:
                errors["VINOVA_DEVICE_NAME"] = message
        if "ca_bundle" in values:
            bundle = values["ca_bundle"] = Path(values["ca_bundle"]).expanduser()
            if not bundle.is_file():
                errors["VINOVA_CA_BUNDLE"] = f"must be a PEM file of CA certificates; {bundle} is not a file"
        if "allow_no_input" in values:
            word = str(values["allow_no_input"]).strip().lower()
            if word not in TRUE_WORDS | FALSE_WORDS:
                errors["VINOVA_ALLOW_NO_INPUT"] = "must be true or false (1/0, yes/no, on/off)"
            values["allow_no_input"] = word in TRUE_WORDS
        if errors:
            raise ConfigError(errors)
        return cls(**values)

    def prepare_agent_dir(self) -> Path:
        """Create the agent data dir (0700) and return it (the one place that writes it, not load)."""
        self.agent_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.agent_dir.chmod(0o700)
        return self.agent_dir
