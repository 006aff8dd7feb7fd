"""The wheel installs the design card's folders under the one `posturewatch` namespace."""

import os
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # end to end over minutes of data; `-m 'not slow'` skips it

ROOT = Path(__file__).resolve().parents[1]


def test_every_source_package_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    found = set()
    for name, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *rel.parts]))
    assert found == listed


def test_wheel_installs_and_imports_in_a_clean_venv(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dist, ROOT],
        check=True, cwd=tmp_path,
    )
    wheel = next(dist.glob("posturewatch-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("posturewatch/analytics/") for n in names)
    # the web app's pages and script are package data, not modules
    assert {"posturewatch/web/templates/now.html", "posturewatch/web/static/app.js"} <= set(names)
    assert not any(n.split("/")[0] in {"analytics", "alerts", "ingest", "tests"} for n in names)

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    # Third-party dependencies come from the test environment, added as a plain path (its .pth
    # files, including our own editable-install hook, are deliberately not processed).
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    code = (
        "import posturewatch.analytics.records as r, posturewatch.ingest.fusion as f, "
        "posturewatch.app.cli as c, importlib.util as u\n"
        f"assert r.__file__.startswith({site!r}), r.__file__\n"
        "assert u.find_spec('analytics') is None and u.find_spec('alerts') is None\n"
        "print(f.estimate_orientation.__name__)"
    )
    out = subprocess.run([py, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": ""})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "estimate_orientation"
