"""A private network for one test: a namespace holding the broker, a veth pair to reach it.

Made by the test and always removed: ``ip netns add``, one veth pair (the gateway's end stays
in the test's own namespace), addresses in 10.200.x.x between the two ends only, nothing
routed anywhere else. ``cut()``/``mend()`` take the gateway's end down and up again: the
gateway is cut off from its broker as by a dead Wi-Fi link.
"""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class BrokerNamespace:
    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.name = f"pwtest-{tag}"
        self.gateway_if, self.broker_if = f"pwg{tag}", f"pwb{tag}"
        self.gateway_ip, self.broker_ip = "10.200.77.1", "10.200.77.2"

    def __enter__(self) -> BrokerNamespace:
        _ip("netns", "add", self.name)
        try:
            _ip("link", "add", self.gateway_if, "type", "veth", "peer", "name", self.broker_if)
            _ip("link", "set", self.broker_if, "netns", self.name)
            _ip("addr", "add", f"{self.gateway_ip}/30", "dev", self.gateway_if)
            _ip("link", "set", self.gateway_if, "up")
            _ip("-n", self.name, "addr", "add", f"{self.broker_ip}/30", "dev", self.broker_if)
            _ip("-n", self.name, "link", "set", self.broker_if, "up")
            _ip("-n", self.name, "link", "set", "lo", "up")
        except BaseException:
            self.__exit__()
            raise
        return self

    def run(self, cmd: list[str], **kwargs) -> subprocess.Popen:
        """A process inside the namespace."""
        return subprocess.Popen(["ip", "netns", "exec", self.name, *cmd], **kwargs)

    def cut(self) -> None:
        _ip("link", "set", self.gateway_if, "down")

    def mend(self) -> None:
        _ip("link", "set", self.gateway_if, "up")

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["ip", "link", "del", self.gateway_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


def require_netns() -> None:
    if os.geteuid() == 0:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("the network-cut test makes a network namespace: run it as root", pytrace=False)
    pytest.skip("network namespaces need root")
