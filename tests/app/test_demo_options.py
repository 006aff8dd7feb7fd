"""The demo's numeric options: nan, inf, zero and negatives are refused with the option's name."""

from __future__ import annotations

import pytest

from posturewatch.app.cli import main
from posturewatch.runtime.demo import DemoOptions


@pytest.mark.parametrize(("field", "value", "name"), [
    ("hours", float("nan"), "--hours"),
    ("hours", float("inf"), "--hours"),
    ("hours", 0.0, "--hours"),
    ("speed", float("inf"), "--speed"),
    ("speed", float("nan"), "--speed"),
    ("speed", -1.0, "--speed"),
    ("duration", float("nan"), "--duration"),
    ("chain_minutes", float("inf"), "--chain-minutes"),
])
def test_non_positive_or_non_finite_numbers_are_refused(tmp_path, field, value, name):
    options = DemoOptions(data_dir=tmp_path, **{field: value})
    with pytest.raises(ValueError, match=f"{name} must be a positive finite number"):
        options.validate()


def test_defaults_are_accepted(tmp_path):
    DemoOptions(data_dir=tmp_path).validate()


@pytest.mark.parametrize(("argv", "toml"), [
    (["--speed", "inf"], ""),
    (["--hours", "nan"], ""),
    ([], "[demo]\nhours = inf\n"),
])
def test_the_command_says_so_and_exits_2(tmp_path, capsys, argv, toml):
    extra = []
    if toml:
        (tmp_path / "c.toml").write_text(toml)
        extra = ["--config", str(tmp_path / "c.toml")]
    code = main(["demo", "--quiet", "--data-dir", str(tmp_path), *extra, *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert "must be a positive finite number" in err and "Traceback" not in err
