"""deploy/posturewatch-sink@.service: a template whose instance is the worker index, restarted always."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from servers import require_binary
from test_service_unit import INSTALLED, unit_sections

from posturewatch.app.cli import build_parser
from posturewatch.app.cmd_sink import EXIT_LEFT_GROUP

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNIT = DEPLOY / "posturewatch-sink@.service"


def env_file() -> dict[str, str]:
    pairs = {}
    for line in (DEPLOY / "sink.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def test_template_restarts_a_worker_under_its_index():
    unit = unit_sections(UNIT.read_text())
    service = unit["Service"]
    assert service["Restart"] == ["always"] and unit["Unit"]["StartLimitIntervalSec"] == ["0"]
    assert service["User"][0] not in ("", "root")
    assert "StateDirectory" not in service  # stateless: nothing on disk to keep
    (exec_start,) = service["ExecStart"]
    assert "--worker %i" in exec_start
    # a worker that left its group on SIGUSR1 stays stopped
    assert service["RestartPreventExitStatus"] == [str(EXIT_LEFT_GROUP)]


def test_exec_start_with_the_example_environment_is_a_valid_sink_command():
    (exec_start,) = unit_sections(UNIT.read_text())["Service"]["ExecStart"]
    env = env_file()
    # what systemd runs for instance 4: %i → 4, $VAR → its words
    line = exec_start.replace("%i", "4").replace("$POSTUREWATCH_SINK_ARGS", env["POSTUREWATCH_SINK_ARGS"])
    program, *argv = shlex.split(line)
    assert program == INSTALLED
    args = build_parser(argv).parse_args(argv)
    assert args.command == "sink" and args.worker == 4 and args.ca_file
    assert int(env["POSTUREWATCH_SINK_SESSION_EXPIRY"]) > 0


def test_systemd_accepts_an_instance(tmp_path):
    analyze = require_binary("/usr/bin/systemd-analyze", "systemd")
    here = Path(sys.executable).parent / "posturewatch"
    (tmp_path / UNIT.name).write_text(UNIT.read_text().replace(INSTALLED, str(here)))
    for name in (UNIT.name, "posturewatch-sink@3.service"):  # the template and an instance of it
        out = subprocess.run([analyze, "verify", str(tmp_path / name)], capture_output=True,
                             text=True, cwd=tmp_path)
        assert out.returncode == 0 and out.stderr.strip() == "", (name, out.stderr)
