"""Sink workers as real `posturewatch sink` processes, for the tests that kill and restart them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

SUMMARY = re.compile(
    r"sink (?P<id>\S+): received (?P<received>\d+) messages, wrote (?P<written>\d+) .*"
    r"acknowledged (?P<acked>\d+)"
)


class SinkProcess:
    """One `posturewatch sink` child; its stderr is collected so tests can wait on it."""

    def __init__(self, host: str, port: int, influx_url: str, *args: str, env: dict | None = None):
        self.command = [
            sys.executable, "-m", "posturewatch.app.cli", "sink", "--mqtt-host", host,
            "--mqtt-port", str(port), "--influx-url", influx_url, "--influx-timeout", "2", *args,
        ]
        self._env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.output = ""
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(self.command, stderr=subprocess.PIPE, env=self._env)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        while chunk := self.proc.stderr.read1(4096):
            with self._lock:
                self.output += chunk.decode(errors="replace")

    def wait_output(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if self.proc.poll() is not None and not self._reader.is_alive():
                raise AssertionError(f"sink exited ({self.proc.returncode}):\n{self.output[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} from the sink in {timeout} s:\n{self.output[-2000:]}")
            time.sleep(0.02)

    def wait_subscribed(self, timeout: float = 30.0) -> None:
        self.wait_output("subscribed", timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._reader.join(5)

    def finish(
        self, timeout: float = 60.0, terminate: bool = True, sig: int = signal.SIGTERM, status: int = 0
    ) -> dict[str, int]:
        """Send ``sig`` (unless ``terminate`` is false: it ends by itself), wait for exit
        ``status``, return the summary's figures."""
        if terminate and self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(timeout)
        self._reader.join(5)
        assert self.proc.returncode == status, f"exit {self.proc.returncode}: {self.output[-2000:]}"
        match = SUMMARY.search(self.output)
        assert match, self.output[-2000:]
        return {k: int(v) for k, v in match.groupdict().items() if k != "id"}

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
