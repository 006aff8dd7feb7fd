"""The daemon: the configured BLE sensors (or their emulators) → the session → the live outputs.

``daemon_session`` is the assembly ``posturewatch run`` uses: a ``BleSource`` on the backend, the
``LiveOutputs`` from the config (durable outbox; MQTT with status, discovery and commands;
InfluxDB or the embedded store in the user's folder), the raw Parquet archive of ``[archive]``
and the stored calibration. ``make_backend``
picks the real bleak adapter or the byte-exact emulators moving like the synthetic wearer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

from posturewatch.ingest.archive import ArchiveError
from posturewatch.ingest.archive_writer import ArchiveWriter
from posturewatch.ingest.ble.client import BleBackend
from posturewatch.ingest.ble.config import DaemonConfig
from posturewatch.ingest.mounting import Calibration
from posturewatch.runtime.config import Config, ConfigError
from posturewatch.runtime.outputs import LiveOutputs, LiveSettings, OutputsError
from posturewatch.runtime.session import Session, View
from posturewatch.runtime.sources import BleSource


def daemon_session(
    config: Config,
    backend: BleBackend,
    *,
    calibrations: Mapping[str, Calibration] | None = None,
    calibration_file: Path | None = None,
    views: list[View] | None = None,
    now: Callable[[], float] = time.time,
    **ble_options,
) -> Session:
    """The daemon's session over ``backend``; ``await session.run(stop, duration_s)``."""
    if config.ble is None:
        raise ConfigError(f"{config.path or 'config'}: no [[sensors]] table: "
                          "the daemon needs at least one")
    source = BleSource(config.ble, backend, now=now, **ble_options)
    outputs = LiveOutputs(LiveSettings.from_config(config), config)
    archive = daemon_archive(config) if config.archive.enabled else None
    return Session(config, source, outputs, calibrations=calibrations, views=views,
                   calibration_file=calibration_file or config.paths.calibration, archive=archive)


class DaemonArchive(ArchiveWriter):
    """The archive writer, refusing a folder it cannot write like the other outputs do."""

    def open(self) -> None:
        try:
            super().open()
        except ArchiveError as exc:
            raise OutputsError(str(exc)) from None


def daemon_archive(config: Config) -> ArchiveWriter:
    """The raw archive of ``[archive]``: every received sample, one Parquet file per local day
    (days counted in ``[alerts] timezone``), with each sensor's family, address and rate."""
    sensors = {s.location: {"family": s.family, "address": s.address, "name": s.name,
                             "rate_hz": s.rate_hz}
               for s in config.ble.sensors}
    return DaemonArchive(config.archive_dir, config.user, sensors=sensors,
                         timezone=config.alerts.timezone, row_group_s=config.archive.row_group_s,
                         compression=config.archive.compression)


def _wearer_motion(config: DaemonConfig, now: Callable[[], float]):
    """The synthetic wearer's day as the emulators' motion.

    Clock errors, jitter, packet loss and dropouts are off: the emulated BLE link injects its
    own, and interpolating across the simulator's gaps would invent data.
    """
    from posturewatch.simulators.config import WearerConfig
    from posturewatch.simulators.devices.motion import WearerMotion
    from posturewatch.simulators.wearer import iter_blocks

    locations = tuple(s.location for s in config.sensors)
    wearer = WearerConfig(hours=24.0, locations=locations, head="head" in locations).with_realism(
        clock=False, jitter=False, packet_loss=False, dropout=False)
    return WearerMotion(iter_blocks(wearer, chunk_s=10.0), start=now())


def make_backend(config: DaemonConfig, emulate: bool, now: Callable[[], float] = time.time,
                 wearer: bool = True) -> BleBackend:
    """The emulated backend (one device per configured sensor, moving like the synthetic
    wearer unless ``wearer`` is False) or the real bleak one."""
    if emulate:
        from posturewatch.simulators.devices.backend import EmulatedBackend, emulate_config

        motion = _wearer_motion(config, now) if wearer else None
        return EmulatedBackend(emulate_config(config, now, motion=motion))
    from posturewatch.ingest.ble.bleak_backend import BleakBackend

    return BleakBackend(config.adapter)
