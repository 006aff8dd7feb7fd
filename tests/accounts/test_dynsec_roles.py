"""`posturewatch users --dynsec` on a real Mosquitto with the dynamic-security plugin.

The plugin checks subscription filters too: here the sink role is held to its shared group (a
plain or other-group subscription is refused in the SUBACK), which the ACL file cannot do.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from servers import MqttCollector, require_binary

PLUGIN = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"
ADMIN_PASSWORD = "admin-secret"
REFUSED = 0x87  # SUBACK "not authorized"


@pytest.fixture
def dynsec_broker(mosquitto_factory, tmp_path):
    ctrl = require_binary("/usr/bin/mosquitto_ctrl", "mosquitto")
    if not Path(PLUGIN).exists():
        require_binary(PLUGIN, "mosquitto")
    config = tmp_path / "dynamic-security.json"
    subprocess.run([ctrl, "dynsec", "init", str(config), "admin", ADMIN_PASSWORD],
                   check=True, capture_output=True)
    return mosquitto_factory(extra_config=f"plugin {PLUGIN}\nplugin_opt_config_file {config}\n")


def users(broker, accounts: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    out = subprocess.run(
        [sys.executable, "-m", "posturewatch.app.cli", "users", "--dir", str(accounts),
         "--dynsec", f"{broker.host}:{broker.port}", *args],
        input=stdin, capture_output=True, text=True, timeout=60,
        env={"POSTUREWATCH_DYNSEC_PASSWORD": ADMIN_PASSWORD, "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    return out


def login(broker, user, password, topics, cleanup) -> MqttCollector:
    c = MqttCollector(broker.host, broker.port, topics, username=user, password=password,
                      protocol="5", client_id=f"{user}-{uuid.uuid4().hex[:6]}")
    cleanup.callback(c.close)
    return c


def test_dynsec_roles_hold_the_sink_to_its_group(dynsec_broker, tmp_path, cleanup):
    accounts = tmp_path / "accounts"
    users(dynsec_broker, accounts, "add", "alice", "--role", "wearer", "--password-stdin", stdin="pa\n")
    users(dynsec_broker, accounts, "add", "bob", "--role", "wearer", "--password-stdin", stdin="pb\n")
    users(dynsec_broker, accounts, "add", "sink-a", "--role", "sink", "--group", "g1",
          "--password-stdin", stdin="ps\n")
    users(dynsec_broker, accounts, "add", "drx", "--role", "clinician", "--wearers", "alice",
          "--password-stdin", stdin="pc\n")
    assert not (accounts / "acl").exists()  # the plugin holds the rules, not a file

    sink = login(dynsec_broker, "sink-a", "ps", [
        "$share/g1/posturewatch/+/angles", "posturewatch/+/angles", "$share/g2/posturewatch/+/angles",
        "$share/g1/posturewatch/+/posture",
    ], cleanup)
    assert sink.granted == [1, REFUSED, REFUSED, REFUSED]
    clinician = login(dynsec_broker, "drx", "pc", ["posturewatch/alice/+", "posturewatch/bob/+",
                                                   "posturewatch/#"], cleanup)
    assert clinician.granted == [1, REFUSED, REFUSED]
    bob = login(dynsec_broker, "bob", "pb", ["posturewatch/bob/#", "posturewatch/alice/#"], cleanup)
    assert bob.granted == [1, REFUSED]
    alice = login(dynsec_broker, "alice", "pa", ["posturewatch/alice/none"], cleanup)
    for topic, body in [("posturewatch/bob/angles", b"bob-forged"),  # not alice's to write
                        ("posturewatch/alice/cmd/snooze", b"command"),
                        ("posturewatch/alice/angles", b"angles")]:
        alice.client.publish(topic, body, qos=1).wait_for_publish(5)
    sink.wait_for(lambda m: any(p == b"angles" for _, p, _ in m))
    clinician.wait_for(lambda m: any(p == b"angles" for _, p, _ in m))
    assert [p for _, p, _ in sink.messages] == [b"angles"]
    assert [p for _, p, _ in clinician.messages] == [b"angles"]  # no commands, not bob's

    # removing a wearer takes it off the clinician's role at once
    users(dynsec_broker, accounts, "remove", "alice")
    with pytest.raises(RuntimeError):
        MqttCollector(dynsec_broker.host, dynsec_broker.port, ["posturewatch/alice/#"],
                      username="alice", password="pa", protocol="5", timeout=1.5)
    again = login(dynsec_broker, "drx", "pc", ["posturewatch/alice/+"], cleanup)
    assert again.granted == [REFUSED]


def test_a_sink_outside_its_group_is_refused_with_a_clear_error(dynsec_broker, tmp_path, victoria):
    accounts = tmp_path / "accounts"
    users(dynsec_broker, accounts, "add", "sink-a", "--role", "sink", "--group", "g1",
          "--password-stdin", stdin="ps\n")
    proc = subprocess.run(
        [sys.executable, "-m", "posturewatch.app.cli", "sink", "--mqtt-host", dynsec_broker.host,
         "--mqtt-port", str(dynsec_broker.port), "--mqtt-user", "sink-a", "--mqtt-password", "ps",
         "--group", "other", "--influx-url", victoria.url, "--duration", "30", "--quiet"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 3, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "refused the sink's subscriptions" in last and "$share/other/posturewatch/+/angles" in last
