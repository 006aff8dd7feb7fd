"""`posturewatch users` as a command, against a real Mosquitto that reloads on SIGHUP."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from servers import MqttCollector, require_binary, wait_until

from posturewatch.accounts.registry import Account, AccountError, Registry


def users(directory, *args, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "posturewatch.app.cli", "users", "--dir", str(directory), *args],
        input=stdin, capture_output=True, text=True, timeout=60,
    )


def logs_in(broker, user: str, password: str) -> bool:
    try:
        MqttCollector(broker.host, broker.port, [f"posturewatch/{user}/#"], username=user,
                      password=password, timeout=2).close()
    except RuntimeError:
        return False
    return True


def test_add_list_remove_and_the_broker_follows(mosquitto_factory, tmp_path):
    require_binary("/usr/bin/mosquitto_passwd", "mosquitto")
    accounts = tmp_path / "accounts"
    added = users(accounts, "add", "alice", "--role", "wearer")
    assert added.returncode == 0, added.stderr
    name, password = added.stdout.split()
    assert name == "alice" and len(password) >= 20  # generated, shown once
    assert users(accounts, "add", "sink-a", "--role", "sink", "--group", "g1",
                 "--password-stdin", stdin="sink-secret\n").stdout == ""
    assert users(accounts, "add", "drx", "--role", "clinician", "--wearers", "alice").returncode == 0
    listed = users(accounts, "list").stdout.splitlines()
    assert listed == ["drx     clinician  reads alice", "sink-a  sink       group g1", "alice   wearer"]
    registry = json.loads((accounts / "accounts.json").read_text())
    assert [a["name"] for a in registry["accounts"]] == ["alice", "sink-a", "drx"]

    broker = mosquitto_factory(password_file=accounts / "passwd", acl_file=accounts / "acl")
    assert logs_in(broker, "alice", password) and logs_in(broker, "sink-a", "sink-secret")
    pid_file = tmp_path / "mosquitto.pid"
    pid_file.write_text(f"{broker.pid}\n")
    removed = users(accounts, "remove", "alice", "--pid-file", str(pid_file))
    assert removed.returncode == 0, removed.stderr
    assert "no longer assigned to clinician(s): drx" in removed.stderr
    wait_until(lambda: not logs_in(broker, "alice", password), 10, "the broker to drop alice")
    assert logs_in(broker, "sink-a", "sink-secret")  # the others are untouched
    assert "reads (nobody yet)" in users(accounts, "list").stdout


@pytest.mark.parametrize("args, message", [
    (["add", "eve", "--role", "clinician", "--wearers", "nobody"], "not wearers here: nobody"),
    (["add", "a/b", "--role", "wearer"], "bad name 'a/b'"),
    (["add", "x", "--role", "wearer", "--group", "g"], "a wearer takes neither"),
    (["remove", "ghost"], "no account 'ghost'"),
])
def test_wrong_requests_are_one_line_and_change_nothing(tmp_path, args, message):
    require_binary("/usr/bin/mosquitto_passwd", "mosquitto")
    accounts = tmp_path / "accounts"
    assert users(accounts, "add", "alice", "--role", "wearer").returncode == 0
    before = (accounts / "accounts.json").read_text(), (accounts / "acl").read_text()
    out = users(accounts, *args)
    assert out.returncode == 2 and out.stderr.strip().count("\n") == 0 and message in out.stderr
    assert "Traceback" not in out.stderr
    assert ((accounts / "accounts.json").read_text(), (accounts / "acl").read_text()) == before


def test_a_damaged_registry_is_a_clear_error(tmp_path):
    (tmp_path / "accounts.json").write_text("{not json")
    out = users(tmp_path, "list")
    assert out.returncode == 2 and "not a readable account registry" in out.stderr


def test_registry_round_trip_and_rules(tmp_path):
    registry = Registry("clinic/a")
    registry.add(Account("w1", "wearer"))
    registry.add(Account("c1", "clinician", wearers=("w1", "w1")))
    registry.add(Account("s1", "sink"))
    registry.save(tmp_path / "r.json")
    again = Registry.load(tmp_path / "r.json")
    assert again.prefix == "clinic/a" and again.accounts == registry.accounts
    assert again.accounts["c1"].wearers == ("w1",) and again.accounts["s1"].group == "posturewatch-sink"
    with pytest.raises(AccountError, match="exists"):
        again.add(Account("w1", "wearer"))
    with pytest.raises(AccountError, match="is a wearer, not a sink"):
        again.add(Account("w1", "sink"), update=True)
    with pytest.raises(AccountError, match="prefix"):
        Registry.load(tmp_path / "r.json", prefix="posturewatch")
    for bad in ("+", "a b", "$SYS", "a/#"):
        with pytest.raises(AccountError):
            Registry(bad)
