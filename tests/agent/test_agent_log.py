"""The agent's log file: owner-only, and a line carrying text it cannot encode is still written."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_a_line_with_a_lone_surrogate_is_written_escaped_to_the_owner_only_log(tmp_path: Path) -> None:
    script = ("import logging, main; from pathlib import Path; import sys\n"
              "main.setup_logging(Path(sys.argv[1]), 'INFO', console=None)\n"
              "logging.getLogger('agent.test').warning('from the server: %s', '\\ud800 end')\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    assert "Logging error" not in done.stderr
    log_file = tmp_path / "logs" / "agent.log"
    assert "agent.test: from the server: \\ud800 end" in log_file.read_text(encoding="utf-8")
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
