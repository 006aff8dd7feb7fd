"""A sensor off the body: where it was put down, and what it feels there.

A sensor taken off lies still — flat or on its side on a table, upright against a chair's
backrest (trunk sensors; the thigh sensor lies flat on the seat), tilted in a charger cradle — or
rides in a bag that sways a little while the wearer walks with it. Still means gravity only:
no breathing, no body motion; noise, gyro bias and a tiny accelerometer bias drift are added by
``sensors`` like for every sample. Taking it off and putting it back on takes ``HANDLE_S``: the
orientation turns smoothly (slerp, minimum-jerk) between the body's and the placement's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from posturewatch.simulators.everyday import HANDLE_S
from posturewatch.simulators.trajectory import Motion, minimum_jerk

TABLE_FACES: dict[str, np.ndarray] = {  # sensor → world of a sensor resting on each face
    "z_up": np.eye(3),
    "z_down": np.diag([1.0, -1.0, -1.0]),
    "y_up": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),  # on its side
    "y_down": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),
}
UPRIGHT_X = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # sensor x up, z east
BAG_SWAY_DEG = (3.0, 2.0)  # wobble at stride and step frequency while carried
BAG_BOUNCE_M = (0.012, 0.008)  # vertical at step, sideways at stride frequency


@dataclass
class Placement:
    """Where one sensor rests during one non-wear span (true clock)."""

    location: str
    start: float
    end: float
    kind: str  # table, chair, charger, bag
    face: str  # which way it lies, e.g. "z_up", "upright", "cradle", "random"
    rotation: np.ndarray  # sensor → world while at rest
    carried: bool  # sways while the wearer walks (bag)

    def meta(self) -> dict:
        return {"start": self.start, "end": self.end, "placement": self.kind, "face": self.face,
                "rotation": self.rotation.round(6).tolist()}


def _rz(deg: float) -> np.ndarray:
    return Rotation.from_euler("z", deg, degrees=True).as_matrix()


def _tilt(rng: np.random.Generator, max_deg: float) -> np.ndarray:
    axis = np.array([*rng.normal(size=2), 0.0])
    axis /= np.linalg.norm(axis)
    return Rotation.from_rotvec(axis * np.radians(rng.uniform(0, max_deg))).as_matrix()


def draw_placement(rng: np.random.Generator, location: str, kind: str, start: float,
                   end: float) -> Placement:
    """A resting orientation for ``location`` put down as ``kind`` (seeded)."""
    yaw = _rz(rng.uniform(0, 360))
    if kind == "table":
        face = str(rng.choice(list(TABLE_FACES)))
        rot = _tilt(rng, 1.0) @ yaw @ TABLE_FACES[face]
    elif kind == "chair" and location in ("pelvis", "thorax", "head"):
        face = "upright"  # against the backrest, leaning back 10–20°
        lean = Rotation.from_euler("y", -rng.uniform(10, 20), degrees=True).as_matrix()
        rot = yaw @ lean @ UPRIGHT_X
    elif kind == "chair":  # the thigh sensor flat on the seat
        face = str(rng.choice(["z_up", "z_down"]))
        rot = _tilt(rng, 5.0) @ yaw @ TABLE_FACES[face]
    elif kind == "charger":
        face = "cradle"  # face up, tilted 30–50° in its dock
        rot = yaw @ Rotation.from_euler("y", rng.uniform(30, 50), degrees=True).as_matrix()
    elif kind == "bag":
        face = "random"
        rot = Rotation.random(random_state=rng).as_matrix()
    else:
        raise ValueError(f"unknown placement {kind!r}")
    return Placement(location, start, end, kind, face, rot, carried=kind == "bag")


def _carried(motion: Motion, place: Placement, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bag rotation (N,3,3) and position (N,3) relative to the wearer's travel at ``t``."""
    env = motion.tracks["walk"](t)
    phase, _, _ = motion.gait.lookup(t)
    s1, s2 = np.sin(phase), np.sin(2.0 * phase + 0.7)
    sway = np.radians(BAG_SWAY_DEG)
    rotvec = env[:, None] * (np.outer(s1, [sway[0], 0.0, 0.0]) + np.outer(s2, [0.0, sway[1], 0.0]))
    rot = Rotation.from_rotvec(rotvec).as_matrix() @ place.rotation
    pos = env[:, None] * (np.outer(np.cos(2.0 * phase), [0.0, 0.0, BAG_BOUNCE_M[0]])
                          + np.outer(s1, [BAG_BOUNCE_M[1], 0.0, 0.0]))
    return rot, pos


def resting_rotation(motion: Motion, place: Placement, t: np.ndarray) -> np.ndarray:
    """(N,3,3) sensor → world of the sensor at rest (or carried) at ``t``."""
    if place.carried:
        return _carried(motion, place, t)[0]
    return np.broadcast_to(place.rotation, (len(t), 3, 3))


def resting_acceleration(motion: Motion, place: Placement, t: np.ndarray, h: float) -> np.ndarray:
    """World acceleration (m/s²) of the resting or carried sensor at ``t``."""
    if not place.carried:
        return np.zeros((len(t), 3))
    grid = np.concatenate([t - h, t, t + h])
    pos = _carried(motion, place, grid)[1]
    n = len(t)
    acc = (pos[2 * n:] - 2.0 * pos[n:2 * n] + pos[:n]) / h**2
    return acc + motion.state(t, (), travel=True)["travel"]


def handling_fraction(place: Placement, t: np.ndarray) -> np.ndarray:
    """0 on the body, 1 at rest, minimum-jerk in between over the first and last ``HANDLE_S``."""
    off = np.clip((t - place.start) / HANDLE_S, 0.0, 1.0)
    on = np.clip((place.end - t) / HANDLE_S, 0.0, 1.0)
    inside = (t >= place.start) & (t < place.end)
    return np.where(inside, minimum_jerk(np.minimum(off, on)), 0.0)


def blend(worn: np.ndarray, rest: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """Per-sample slerp from ``worn`` (frac 0) to ``rest`` (frac 1)."""
    out = rest.copy()
    partial = (frac > 0.0) & (frac < 1.0)
    if partial.any():
        rel = Rotation.from_matrix(np.einsum("nji,njk->nik", worn[partial], rest[partial]))
        step = Rotation.from_rotvec(rel.as_rotvec() * frac[partial, None]).as_matrix()
        out[partial] = worn[partial] @ step
    out[frac <= 0.0] = worn[frac <= 0.0]
    return out
