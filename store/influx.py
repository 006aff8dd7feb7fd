"""InfluxDB v2 writer (``influxdb-client``) for line-protocol batches.

The writer does one synchronous write per batch and classifies failures: a server that cannot be
reached, times out, throttles (429) or fails (5xx) is *transient* — the outbox pump retries with
backoff; a batch the server rejects as malformed (other 4xx) is *permanent* and is dead-lettered
instead of blocking the queue forever. Retrying is the outbox pump's job, so the client's own
retries are off.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)


class WriteError(RuntimeError):
    """A failed write; ``transient`` says whether trying again later can succeed."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True, slots=True)
class InfluxSettings:
    """Where and how to write. ``full_rate`` writes 10 Hz angles instead of the 1 Hz summary."""

    url: str = "http://localhost:8086"
    token: str = ""
    org: str = "posturewatch"
    bucket: str = "posturewatch"
    timeout_s: float = 10.0
    verify_ssl: bool = True
    ssl_ca_cert: str | None = None
    batch_lines: int = 5000
    full_rate: bool = False


class InfluxWriter:
    """Writes batches of line-protocol strings (ms precision) to one bucket."""

    def __init__(self, settings: InfluxSettings) -> None:
        from influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.settings = settings
        self._client = InfluxDBClient(
            url=settings.url,
            token=settings.token or "unused",
            org=settings.org,
            timeout=int(settings.timeout_s * 1000),
            verify_ssl=settings.verify_ssl,
            ssl_ca_cert=settings.ssl_ca_cert,
            retries=False,
        )
        self._api = self._client.write_api(write_options=SYNCHRONOUS)
        self.lines_written = 0

    def write(self, lines: Sequence[str]) -> None:
        """Write ``lines`` or raise ``WriteError`` (``transient`` tells whether to retry)."""
        from influxdb_client import WritePrecision
        from influxdb_client.rest import ApiException

        if not lines:
            return
        try:
            self._api.write(
                bucket=self.settings.bucket,
                org=self.settings.org,
                record="\n".join(lines),
                write_precision=WritePrecision.MS,
            )
        except ApiException as exc:
            status = exc.status or 0
            transient = status in (408, 429) or status >= 500 or status == 0
            raise WriteError(f"InfluxDB answered {status}: {exc.body!r}", transient=transient) from exc
        except Exception as exc:  # urllib3 connection errors and timeouts have many types
            raise WriteError(f"InfluxDB unreachable: {exc}", transient=True) from exc
        self.lines_written += len(lines)

    def close(self) -> None:
        self._api.close()
        self._client.close()
