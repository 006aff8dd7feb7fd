"""The stored calibration file: what `posturewatch calibrate` writes and `run`/`replay` read.

One JSON document per user: the mounting the sensors were declared with and, per pose
(``neutral``, optionally ``forward_bend``), each location's still-window mean acceleration
(``posturewatch.ingest.pose.summarize`` picks the stillest window of what was recorded during the
pose). The neutral pose becomes a ``from_pose`` calibration on top of the declared mounting.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from posturewatch.ingest.mounting import Calibration, from_pose
from posturewatch.ingest.records import LOCATIONS
from posturewatch.runtime.paths import UserPaths


def calibration_path(user: str) -> Path:
    """The user's calibration file in the default folder (``runtime.paths``); a config with
    ``[store] dir`` uses ``Config.paths.calibration`` instead."""
    return UserPaths.of(user).calibration


def write_calibration(path: Path, user: str, mounting: Mapping[str, object], poses: dict) -> None:
    """Store poses in the calibration file format (atomically: a crash leaves the old file)."""
    now = datetime.now(UTC)
    document = {"v": 1, "user": user, "ts": int(now.timestamp() * 1000),
                "created": now.isoformat().replace("+00:00", "Z"), "mounting": dict(mounting),
                "poses": poses}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=2))
    tmp.replace(path)


def load_calibrations(
    path: Path, declared: Callable[[str], Calibration]
) -> tuple[dict[str, Calibration], list[str]]:
    """Calibrations from a stored file on top of the declared mountings; notes say what was
    used and what was skipped (a missing or unusable file gives none, with a note)."""
    if not path.exists():
        return {}, [f"no stored calibration at {path}: declared mountings are used"]
    try:
        doc = json.loads(path.read_text())
        neutral = doc["poses"]["neutral"]
        stored_mounting = doc.get("mounting", {})
        if not isinstance(neutral, dict) or not isinstance(stored_mounting, dict):
            raise TypeError("'poses.neutral' and 'mounting' must be objects")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {}, [f"calibration file {path} unusable ({type(exc).__name__}: {exc}); ignored"]
    calibrations, notes = {}, []
    for location, entry in neutral.items():
        if location not in LOCATIONS:
            notes.append(f"{location}: not a body location ({', '.join(LOCATIONS)}); ignored")
            continue
        base = declared(location)
        mounting = stored_mounting.get(location)
        try:
            if mounting and not np.allclose(
                Calibration.declared(location, mounting.get("superior"), mounting.get("anterior")).R, base.R
            ):
                notes.append(f"{location}: stored calibration was made with another mounting; ignored")
                continue
            calibrations[location] = from_pose(base, np.asarray(entry["acc_mean"], dtype=float))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            notes.append(f"{location}: stored calibration unusable: {exc}")
    if calibrations:
        notes.append(f"calibration from {path}: {', '.join(sorted(calibrations))}")
    return calibrations, notes
