"""Static test poses: segment inclinations → the sensor readings a worn IMU would give."""

import numpy as np
from scipy.spatial.transform import Rotation

from posturewatch.ingest.mounting import Calibration
from posturewatch.ingest.records import SensorBlock

G = 9.81

# DESIGN §3 canonical postures: segment thetas (pelvis, thigh, thorax) and the expected angles.
CANONICAL = {
    "standing neutral": ((0, 0, 0), dict(pelvic_tilt=0, thigh_inclination=0, hip_flexion=0,
                                          trunk_inclination=0, lumbar_flexion=0)),
    "sitting upright": ((-5, -90, 0), dict(pelvic_tilt=-5, thigh_inclination=90, hip_flexion=85,
                                            trunk_inclination=0, lumbar_flexion=5)),
    "sitting slumped": ((-20, -90, 15), dict(pelvic_tilt=-20, thigh_inclination=90, hip_flexion=70,
                                              trunk_inclination=15, lumbar_flexion=35)),
    "forward bend, hips": ((60, 0, 75), dict(pelvic_tilt=60, thigh_inclination=0, hip_flexion=60,
                                              trunk_inclination=75, lumbar_flexion=15)),
    "forward bend, back": ((15, 0, 75), dict(pelvic_tilt=15, thigh_inclination=0, hip_flexion=15,
                                              trunk_inclination=75, lumbar_flexion=60)),
    "lying supine": ((-90, -90, -90), dict(pelvic_tilt=-90, thigh_inclination=90, hip_flexion=0,
                                            trunk_inclination=-90, lumbar_flexion=0)),
}

NAN = float("nan")
UNDEFINED = dict(pelvic_tilt=NAN, thigh_inclination=NAN, hip_flexion=NAN, trunk_inclination=NAN,
                 lumbar_flexion=NAN, neck_flexion=NAN)

# Lying in every position: segment thetas (pelvis, thigh, thorax), the roll about the long axes
# (+ = onto the left side) and the expected angles, NaN where they must be undefined. The head
# looks 10° further forward than the thorax. All of them are posture "lying".
LYING = {
    "lying supine": ((-90, -90, -90), 0, dict(pelvic_tilt=-90, thigh_inclination=90, hip_flexion=0,
                                               trunk_inclination=-90, lumbar_flexion=0,
                                               neck_flexion=10)),
    "lying prone": ((95, 90, 85), 0, dict(pelvic_tilt=95, thigh_inclination=-90, hip_flexion=5,
                                          trunk_inclination=85, lumbar_flexion=-10,
                                          neck_flexion=10)),
    "lying on the left side": ((-90, -90, -90), 90, UNDEFINED),
    "lying on the right side": ((-90, -90, -90), -90, UNDEFINED),
    "three-quarter onto the right": ((-90, -90, -90), -70, UNDEFINED),
    # back propped up on pillows, legs along the mattress: thorax 60° and pelvis 75° from vertical
    "semi-reclined on a bed": ((-75, -88, -60), 0, dict(pelvic_tilt=-75, thigh_inclination=88,
                                                        hip_flexion=13, trunk_inclination=-60,
                                                        lumbar_flexion=15, neck_flexion=10)),
}


def up_in_segment(theta_deg: float, roll_deg: float = 0.0) -> np.ndarray:
    """World up in segment axes (superior, anterior, left) for a sagittal inclination."""
    th = np.radians(theta_deg)
    up = np.array([np.cos(th), -np.sin(th), 0.0])
    return Rotation.from_euler("x", roll_deg, degrees=True).inv().apply(up)


def mounting(location: str, misalign_deg: float = 0.0, seed: int = 0, declared=None) -> np.ndarray:
    """True sensor→segment rotation: the declared mounting turned by a random misalignment."""
    cal = declared or Calibration.declared(location)
    rng = np.random.default_rng(seed)
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    mis = Rotation.from_rotvec(axis * np.radians(misalign_deg)).as_matrix()
    return cal.R @ mis


def static_block(location, R_true, theta, t0, seconds, rate=50.0, gyro=True, rng=None,
                 roll=0.0) -> SensorBlock:
    n = int(seconds * rate)
    t = t0 + np.arange(n) / rate
    acc = np.tile(G * (R_true.T @ up_in_segment(theta, roll)), (n, 1))
    if rng is not None:
        acc = acc + rng.normal(0, 0.03, acc.shape)
    gyr = np.zeros((n, 3)) if gyro else None
    if gyr is not None and rng is not None:
        gyr = gyr + rng.normal(0, 0.003, gyr.shape)
    return SensorBlock(location, t, acc, gyr)
