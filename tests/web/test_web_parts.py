"""The web app's parts: accounts (Argon2id, names, roles), `posturewatch web` account commands,
the ``[web]`` config section, the live feed's handling of bad messages, trend labels, the ACL's
web login on a real Mosquitto, and a server stop that ends open event streams."""

from __future__ import annotations

import argparse
import io
import json
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from servers import MqttCollector, require_binary, wait_until
from web_env import PASSWORDS, start

from posturewatch.alerts.mqtt.link import MqttSettings
from posturewatch.app import cli
from posturewatch.runtime.config import ConfigError, WebSettings, from_mapping
from posturewatch.web.accounts import AccountError, Accounts
from posturewatch.web.data import format_change
from posturewatch.web.live import LiveFeed

ACL = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "acl"


def test_passwords_are_stored_as_argon2id_hashes_and_checked(tmp_path):
    accounts = Accounts(tmp_path / "a.db")
    assert accounts.put("ann", "wearer", "a-long-password") is True
    assert accounts.put("ann", "wearer", "another-password") is False  # replaced
    raw = (tmp_path / "a.db").read_bytes()
    assert b"another-password" not in raw and b"$argon2id$" in raw
    assert accounts.verify("ann", "another-password").name == "ann"
    assert accounts.verify("ann", "a-long-password") is None
    assert accounts.verify("nobody", "another-password") is None
    assert (tmp_path / "a.db").stat().st_mode & 0o077 == 0
    accounts.close()


@pytest.mark.parametrize(("args", "message"), [
    (("../etc", "wearer", "long-enough-1"), "account name"),
    (("ann", "admin", "long-enough-1"), "role must be one of"),
    (("ann", "wearer", "short"), "at least 8"),
    (("ann", "wearer", "long-enough-1", ["bob"]), "--wearers is for clinician"),
    (("drx", "clinician", "long-enough-1", ["a/b"]), "wearer 'a/b'"),
])
def test_bad_accounts_are_refused_by_name(tmp_path, args, message):
    accounts = Accounts(tmp_path / "a.db")
    with pytest.raises(AccountError, match=message):
        accounts.put(*args)
    assert accounts.all() == []


def test_clinician_sees_assigned_wearers_only(tmp_path):
    accounts = Accounts(tmp_path / "a.db")
    accounts.put("drlee", "clinician", "long-enough-1", ["ann", "bob"])
    accounts.put("ann", "wearer", "long-enough-1")
    lee, ann = accounts.get("drlee"), accounts.get("ann")
    assert lee.may_see("ann") and lee.may_see("bob") and not lee.may_see("carl") and not lee.may_see("drlee")
    assert ann.may_see("ann") and not ann.may_see("bob")


def test_the_account_commands(tmp_path, monkeypatch, capsys):
    path = tmp_path / "accounts.db"
    monkeypatch.setattr(sys, "stdin", io.StringIO("pass-word-123\n"))
    assert cli.main(["web", "--accounts", str(path), "--add-user", "drlee", "--role", "clinician",
                     "--wearers", "ann, bob", "--password-stdin"]) == 0
    assert cli.main(["web", "--accounts", str(path), "--list-users"]) == 0
    assert "drlee\tclinician sees ann, bob" in capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert cli.main(["web", "--accounts", str(path), "--add-user", "x", "--password-stdin"]) == 2
    assert "at least 8 characters" in capsys.readouterr().err
    assert cli.main(["web", "--accounts", str(path), "--remove-user", "nobody"]) == 1
    assert cli.main(["web", "--accounts", str(path), "--remove-user", "drlee"]) == 0
    assert Accounts(path).all() == []


def test_every_option_has_a_help_text():
    parser = cli.build_parser(["web"])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    web = sub.choices["web"]
    options = [a for a in web._actions if a.option_strings and a.dest != "help"]
    assert len(options) >= 15 and all(a.help for a in options)


def test_the_web_config_section_is_typed_and_checked():
    assert from_mapping({}).web == WebSettings()
    web = from_mapping({"web": {"port": 9000, "base_path": "/posture", "secure_cookies": True}}).web
    assert (web.port, web.base_path, web.secure_cookies) == (9000, "/posture", True)
    for bad, message in (({"prot": 1}, "unknown key 'prot'"), ({"port": "80"}, "port must be of type int"),
                         ({"base_path": "posture/"}, "base_path must look like"),
                         ({"certfile": "c.pem"}, "certfile and keyfile go together"),
                         ({"port": 0}, "port must be 1–65535")):
        with pytest.raises(ConfigError, match=message):
            from_mapping({"web": bad})


def test_bad_live_messages_are_counted_and_dropped():
    feed = LiveFeed(None, "pw")
    feed._on_message("pw/ann/posture", b"\xff not json")
    feed._on_message("pw/ann/alerts", b"[1, 2]")
    feed._on_message("other/ann/posture", b"{}")
    feed._on_message("pw/ann/posture", json.dumps({"posture": "sitting", "since_ms": 1000}).encode())
    feed._on_message("pw/ann/episodes", json.dumps({"event": "start", "episode_id": "e1",
                                                    "kind": "forward_head", "start_ms": 5}).encode())
    assert feed.errors == {"bad_json": 2, "foreign_topic": 1}
    snap = feed.snapshot("ann")
    assert snap["posture"] == "sitting" and snap["posture_since_ms"] == 1000 and snap["live"] == "off"
    assert snap["episodes"] == [{"id": "e1", "kind": "forward_head", "start_ms": 5}]
    feed._on_message("pw/ann/episodes", json.dumps({"event": "end", "episode_id": "e1"}).encode())
    assert feed.snapshot("ann")["episodes"] == [] and feed.snapshot("bob")["posture"] is None


def test_week_over_week_changes_are_worded_in_the_figures_unit():
    assert format_change("min", 100.0, 90.0) == "+10 min"
    assert format_change("pct", 50.0, 60.0) == "−10 points"
    assert format_change("count", 3.0, 3.0) == "±0"
    assert format_change("per_h", 2.5, None) == "–"


def test_the_acl_gives_the_web_login_every_wearers_view_and_snooze_only(mosquitto_factory, tmp_path):
    require_binary("/usr/bin/mosquitto_passwd", "mosquitto")
    passwd = tmp_path / "passwd"
    users = {"alice": "a-secret", "posturewatch-web": "w-secret"}
    subprocess.run(["sh", str(ACL.parent / "make-passwd.sh"), "-", str(passwd)],
                   input="".join(f"{u}:{p}\n" for u, p in users.items()).encode(), check=True)
    broker = mosquitto_factory(password_file=passwd, acl_file=ACL)
    feed = LiveFeed(MqttSettings(host=broker.host, port=broker.port, username="posturewatch-web",
                                 password="w-secret"), "posturewatch")
    alice = MqttCollector(broker.host, broker.port, ["posturewatch/alice/cmd/#"], username="alice",
                          password="a-secret")
    try:
        feed.start(loop=None)
        assert feed.link.wait_connected(10)
        alice.client.publish("posturewatch/alice/posture", b'{"posture": "walking"}', qos=1,
                             retain=True).wait_for_publish(5)
        wait_until(lambda: feed.snapshot("alice")["posture"] == "walking", what="alice's posture")
        assert feed.command("alice", "snooze", {"minutes": 15})
        alice.wait_for(lambda m: any(t == "posturewatch/alice/cmd/snooze" for t, _, _ in m))
        # anything else the web login writes is dropped by the broker
        feed.link.publish_raw("posturewatch/alice/cmd/config", b'{"alerts": {}}', qos=1)
        feed.link.publish_raw("posturewatch/alice/cmd/snooze", b'{"minutes": 30}', qos=1)
        alice.wait_for(lambda m: sum(t.endswith("/cmd/snooze") for t, _, _ in m) == 2)
        assert [t for t, _, _ in alice.messages] == ["posturewatch/alice/cmd/snooze"] * 2
    finally:
        alice.close()
        feed.stop()


def test_stop_ends_open_event_streams(tmp_path, stores, mosquitto):
    web = start(tmp_path, stores, mosquitto)
    ended = threading.Event()
    lines: list[str] = []

    def listen() -> None:
        with httpx.Client(base_url=web.url, timeout=30) as c:
            token = c.get("/login").text.split('name="csrf-token" content="')[1].split('"')[0]
            c.post("/login", data={"csrf": token, "name": "ann", "password": PASSWORDS["ann"]})
            with c.stream("GET", "/api/w/ann/events") as events:
                for line in events.iter_lines():
                    lines.append(line)
        ended.set()

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    wait_until(lambda: "event: state" in lines, what="the first event")
    web.server.stop()
    assert ended.wait(15), "the event stream stayed open after stop()"
    assert json.loads(lines[lines.index("event: state") + 1].removeprefix("data: "))["live"] == "connected"


def test_https_with_certfile_and_keyfile_marks_the_cookie_secure(tmp_path, stores, mosquitto):
    openssl = require_binary("/usr/bin/openssl", "openssl")
    cert, key = tmp_path / "web.crt", tmp_path / "web.key"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    web = start(tmp_path, stores, mosquitto, certfile=str(cert), keyfile=str(key))
    try:
        assert web.url.startswith("https://127.0.0.1:")
        with httpx.Client(base_url=web.url, verify=ssl.create_default_context(cafile=str(cert)),
                          timeout=10) as c:
            page = c.get("/login")
            assert page.status_code == 200 and "secure" in page.headers["set-cookie"].lower()
    finally:
        web.server.stop()
