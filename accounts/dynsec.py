"""The same accounts in Mosquitto's dynamic-security plugin, through its control topic.

Unlike the ACL file, the plugin also checks the filter a client subscribes with, so the sink role
can be held to its shared group: it may subscribe to ``$share/<group>/<p>/+/<kind>`` exactly and
to nothing else. Each account gets a client (the plugin hashes the password) and a role of its
own, ``posturewatch-<name>``; the defaults deny publishing, receiving and subscribing to anyone
not granted. Commands are JSON on ``$CONTROL/dynamic-security/v1`` (answers on ``…/response``),
sent as the plugin's admin account (made by ``mosquitto_ctrl dynsec init``).
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from posturewatch.accounts.mosquitto_files import CLINICIAN_TOPICS, DISCOVERY_PREFIX
from posturewatch.accounts.registry import Account, AccountError
from posturewatch.alerts.mqtt.payloads import SINK_PROBE, SINK_READY
from posturewatch.store.from_mqtt import DATA_TOPICS

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
ROLE_PREFIX = "posturewatch-"


def role_acls(account: Account, prefix: str) -> list[dict]:
    """The plugin ACL entries of ``account``'s role."""
    def acl(kind: str, topic: str) -> dict:
        return {"acltype": kind, "topic": topic, "priority": 0, "allow": True}

    out: list[dict] = []
    if account.role == "wearer":
        for tree in (f"{prefix}/{account.name}/#", f"{DISCOVERY_PREFIX}/+/posturewatch_{account.name}/#"):
            out += [acl("publishClientSend", tree), acl("publishClientReceive", tree),
                    acl("subscribePattern", tree)]
        status = f"{DISCOVERY_PREFIX}/status"
        out += [acl("subscribeLiteral", status), acl("publishClientReceive", status)]
    elif account.role == "sink":
        for kind in (*DATA_TOPICS, SINK_PROBE):
            out += [acl("subscribeLiteral", f"$share/{account.group}/{prefix}/+/{kind}"),
                    acl("publishClientReceive", f"{prefix}/+/{kind}")]
        out += [acl("publishClientSend", f"{prefix}/+/{SINK_READY}")]
    elif account.role == "clinician":
        for wearer in account.wearers:
            out += [acl("subscribePattern", f"{prefix}/{wearer}/+")]
            out += [acl("publishClientReceive", f"{prefix}/{wearer}/{kind}") for kind in CLINICIAN_TOPICS]
    return out


@dataclass(frozen=True, slots=True)
class DynsecTarget:
    host: str
    port: int
    admin_user: str
    admin_password: str
    ca_file: str | None = None
    timeout_s: float = 10.0


class DynsecControl:
    """A short-lived admin connection that sends command lists and checks every answer."""

    def __init__(self, target: DynsecTarget) -> None:
        self.target = target
        self._answer: dict | None = None
        self._answered = threading.Event()
        self._ready = threading.Event()
        self._refused: str | None = None
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pw-users-{uuid.uuid4().hex[:8]}",
                             protocol=mqtt.MQTTv5)
        client.username_pw_set(target.admin_user, target.admin_password)
        if target.ca_file:
            client.tls_set(ca_certs=target.ca_file)
        client.on_connect = self._on_connect
        client.on_subscribe = lambda *a: self._ready.set()
        client.on_message = self._on_message
        self._client = client

    def __enter__(self) -> DynsecControl:
        try:
            self._client.connect(self.target.host, self.target.port)
        except OSError as exc:
            where = f"{self.target.host}:{self.target.port}"
            raise AccountError(f"cannot reach the broker at {where}: {exc}") from None
        self._client.loop_start()
        if not self._ready.wait(self.target.timeout_s) or self._refused:
            self.__exit__()
            raise AccountError(f"the broker refused the admin login: {self._refused or 'no answer'}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._refused = str(reason_code)
            self._ready.set()
            return
        client.subscribe(f"{CONTROL_TOPIC}/response", qos=1)

    def _on_message(self, client, userdata, message) -> None:
        try:
            self._answer = json.loads(message.payload)
        except ValueError:
            self._answer = {"responses": [{"error": "unreadable answer"}]}
        self._answered.set()

    def run(self, commands: list[dict], tolerate: tuple[str, ...] = ()) -> list[dict]:
        """Send ``commands``; AccountError naming the first failed one (unless its error
        contains one of ``tolerate``)."""
        self._answered.clear()
        self._client.publish(CONTROL_TOPIC, json.dumps({"commands": commands}), qos=1)
        if not self._answered.wait(self.target.timeout_s):
            raise AccountError(
                "the dynamic-security plugin did not answer (is it loaded, is this its admin?)"
            )
        responses = (self._answer or {}).get("responses", [])
        for command, response in zip(commands, responses, strict=False):
            error = response.get("error")
            if error and not any(t in error for t in tolerate):
                raise AccountError(f"dynamic security: {command['command']} failed: {error}")
        return responses

    # ---- accounts -----------------------------------------------------------------------

    def deny_by_default(self) -> None:
        self.run([{"command": "setDefaultACLAccess", "acls": [
            {"acltype": "publishClientSend", "allow": False},
            {"acltype": "publishClientReceive", "allow": False},
            {"acltype": "subscribe", "allow": False},
            {"acltype": "unsubscribe", "allow": True},
        ]}])

    def apply(self, account: Account, prefix: str, password: str | None) -> None:
        """Create or update ``account``: its role is rebuilt, the password set when given."""
        role = ROLE_PREFIX + account.name
        self.run([{"command": "deleteRole", "rolename": role}], tolerate=("not found",))
        self.run([{"command": "createRole", "rolename": role, "acls": role_acls(account, prefix)}])
        exists = not self.run([{"command": "getClient", "username": account.name}],
                              tolerate=("not found",))[0].get("error")
        if not exists:
            create: dict = {"command": "createClient", "username": account.name}
            if password is not None:
                create["password"] = password
            self.run([create])
        elif password is not None:
            self.run([{"command": "setClientPassword", "username": account.name, "password": password}])
        self.run([{"command": "addClientRole", "username": account.name, "rolename": role, "priority": 0}])

    def remove(self, name: str) -> None:
        self.run([{"command": "deleteClient", "username": name}], tolerate=("not found",))
        self.run([{"command": "deleteRole", "rolename": ROLE_PREFIX + name}], tolerate=("not found",))
