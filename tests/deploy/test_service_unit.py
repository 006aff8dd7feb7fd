"""deploy/posturewatch.service: a restart-always daemon under its own user with a state directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from servers import require_binary

from posturewatch.app.cli import build_parser

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "posturewatch.service"
INSTALLED = "/opt/posturewatch/venv/bin/posturewatch"


def unit_sections(text: str) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"key outside a section: {line}"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_unit_keeps_the_deployment_rules():
    unit = unit_sections(UNIT.read_text())
    after = " ".join(unit["Unit"]["After"]).split()
    assert {"bluetooth.target", "network-online.target"} <= set(after)
    service = unit["Service"]
    assert service["Restart"] == ["always"]
    assert service["User"][0] not in ("", "root") and "DynamicUser" not in service
    assert service["StateDirectory"] == ["posturewatch"]
    assert service.get("ProtectSystem") == ["strict"]  # writable: the state directory only
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_exec_start_is_a_valid_run_command():
    (exec_start,) = unit_sections(UNIT.read_text())["Service"]["ExecStart"]
    program, *argv = exec_start.split()
    assert program == INSTALLED
    args = build_parser(argv).parse_args(argv)
    assert args.command == "run" and args.config == "/etc/posturewatch/posturewatch.toml"


def test_systemd_accepts_the_unit(tmp_path):
    analyze = require_binary("/usr/bin/systemd-analyze", "systemd")
    # systemd checks that ExecStart's program exists: point it at this venv's posturewatch
    here = Path(sys.executable).parent / "posturewatch"
    unit = tmp_path / "posturewatch.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED, str(here)))
    out = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0 and out.stderr.strip() == "", out.stderr
