"""The synthetic wearer's public API: ``simulate`` a whole day or stream it with ``iter_blocks``.

>>> from posturewatch.simulators.wearer import WearerConfig, simulate, iter_blocks
>>> day = simulate(WearerConfig(hours=0.5, seed=7))
>>> day.blocks["thigh"].acc.shape, day.truth.episodes[:1]
>>> for blocks in iter_blocks(WearerConfig(hours=24), chunk_s=1.0): ...

Sensor data is generated in fixed internal chunks of ``sensors.CHUNK_S`` seconds, so a 24 h day
never needs all intermediate arrays at once and the output is identical however it is consumed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np

from posturewatch.ingest.records import SensorBlock
from posturewatch.simulators import wear_truth
from posturewatch.simulators.body import EARTH_FIELD_UT, GRAVITY, sagittal_theta, truth_angles
from posturewatch.simulators.config import Realism, Wear, WearerConfig
from posturewatch.simulators.schedule import NOT_WORN, POSTURE_CODES, Plan, plan_day
from posturewatch.simulators.sensors import CHUNK_S, SensorSpec, build_specs, chunk_block, row_jitter
from posturewatch.simulators.truth import TruthEpisode, label_episodes

__all__ = [
    "Realism", "SimulatedDay", "Truth", "Wear", "WearerConfig", "compute_truth", "iter_blocks",
    "iter_truth", "prepare", "simulate",
]

TRUTH_RATE_HZ = 10.0
POSTURE_LABELS: tuple[str, ...] = tuple(  # indexed by code; unused codes read "unknown"
    next((k for k, v in POSTURE_CODES.items() if v == code), "unknown")
    for code in range(max(POSTURE_CODES.values()) + 1))


@dataclass
class Truth:
    """Ground truth: posture and segment angles at 10 Hz (exact instants) and 1 Hz (per-second
    mean of the angles and majority posture over [t, t + 1)), and the episodes."""

    t_1hz: np.ndarray
    posture_1hz: np.ndarray  # int8 posture codes (analytics.records.Posture numbering)
    angles_1hz: dict[str, np.ndarray]
    t_10hz: np.ndarray
    posture_10hz: np.ndarray
    angles_10hz: dict[str, np.ndarray]
    episodes: list[TruthEpisode]
    steps_t: np.ndarray = field(default_factory=lambda: np.zeros(0))  # heel strikes, host clock
    steps_leg: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))

    @staticmethod
    def labels(codes: np.ndarray) -> np.ndarray:
        """Posture labels (``"sitting"``, ...) for an array of codes."""
        return np.asarray(POSTURE_LABELS, dtype=object)[np.asarray(codes, dtype=int)]


@dataclass
class SimulatedDay:
    """A simulated recording: per-location sensor blocks on the host clock, truth and meta."""

    config: WearerConfig
    blocks: dict[str, SensorBlock]
    truth: Truth
    meta: dict
    plan: Plan | None = None  # how it was made (for the wear truth files)
    specs: dict[str, SensorSpec] | None = None


def prepare(config: WearerConfig) -> tuple[Plan, dict[str, SensorSpec]]:
    """The day's plan (body motion, labels, events) and every sensor's fixed impairments."""
    plan = plan_day(config.seed, config.start, config.hours, wear=config.wear, days=config.days)
    return plan, build_specs(config, plan)


def iter_truth(config: WearerConfig, plan: Plan) -> Iterator[Truth]:
    """The truth in consecutive pieces, cut only where no episode can be open (mid-night), so a
    multi-day recording never holds more than a day of 10 Hz truth at once."""
    n = int(np.floor(config.duration_s * TRUTH_RATE_HZ + 1e-9))
    pieces = wear_truth.segments(plan, config.start, config.duration_s)
    for i, (lo, hi) in enumerate(pieces):
        k0 = int(lo * TRUTH_RATE_HZ)
        k1 = n if i == len(pieces) - 1 else int(hi * TRUTH_RATE_HZ)
        t_end = config.end if i == len(pieces) - 1 else config.start + hi
        yield _truth_piece(config, plan, k0, k1, t_end)


def _truth_piece(config: WearerConfig, plan: Plan, k0: int, k1: int, t_end: float) -> Truth:
    t = config.start + np.arange(k0, k1) / TRUTH_RATE_HZ
    n = len(t)
    segments = ("pelvis", "thigh", "thorax", "head") if config.has_head else ("pelvis", "thigh", "thorax")
    thetas: dict[str, np.ndarray] = {}
    for lo in range(0, n, 200_000):  # bounded memory for long days
        rot = plan.motion.rotations(t[lo:lo + 200_000], segments)
        for seg in segments:
            thetas.setdefault(seg, []).append(sagittal_theta(rot[seg]))
    thetas = {seg: np.concatenate(parts) for seg, parts in thetas.items()}
    angles = truth_angles(thetas["pelvis"], thetas["thigh"], thetas["thorax"], thetas.get("head"))
    codes = plan.posture_codes(t)
    wear_truth.apply_nonwear(t, codes, angles, plan, config.sensor_locations, NOT_WORN)
    episodes = label_episodes(t, angles, Truth.labels(codes), head=config.has_head, t_end=t_end)
    t1, codes1, angles1 = per_second(t, codes, angles)
    steps_t, steps_leg = wear_truth.heel_strikes(plan, float(t[0]), t_end, config.sensor_locations)
    return Truth(t1, codes1, angles1, t, codes, angles, episodes, steps_t, steps_leg)


def compute_truth(config: WearerConfig, plan: Plan) -> Truth:
    """Exact posture and angles from the body model (not from any sensor) and their episodes."""
    pieces = list(iter_truth(config, plan))
    if len(pieces) == 1:
        return pieces[0]
    cat = np.concatenate
    return Truth(
        cat([p.t_1hz for p in pieces]), cat([p.posture_1hz for p in pieces]),
        {k: cat([p.angles_1hz[k] for p in pieces]) for k in pieces[0].angles_1hz},
        cat([p.t_10hz for p in pieces]), cat([p.posture_10hz for p in pieces]),
        {k: cat([p.angles_10hz[k] for p in pieces]) for k in pieces[0].angles_10hz},
        [e for p in pieces for e in p.episodes],
        cat([p.steps_t for p in pieces]), cat([p.steps_leg for p in pieces]))


def per_second(t: np.ndarray, codes: np.ndarray, angles: dict[str, np.ndarray],
               ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """10 Hz truth → 1 Hz rows at ``start + k``: angles are the mean and posture the majority
    of the 10 Hz samples in [t, t + 1) (ties to the lower code), as the replay reports them."""
    step = int(TRUTH_RATE_HZ)
    starts = np.arange(0, len(t), step)
    counts = np.diff(np.append(starts, len(t)))
    means = {k: np.add.reduceat(v, starts) / counts for k, v in angles.items()}
    votes = np.zeros((len(starts), len(POSTURE_LABELS)), dtype=np.int64)
    np.add.at(votes, (np.repeat(np.arange(len(starts)), counts), codes.astype(np.int64)), 1)
    return t[starts], votes.argmax(axis=1).astype(np.int8), means


def _generate(config: WearerConfig, plan: Plan, specs: dict[str, SensorSpec]):
    """Internal chunks in time order: (chunk index, {location: (block, nominal times kept)})."""
    n_chunks = int(np.ceil(config.duration_s / CHUNK_S - 1e-9))
    for chunk in range(n_chunks):
        out = {}
        jitters: dict[float, np.ndarray] = {}
        for loc, spec in specs.items():
            total = int(np.floor(config.duration_s * spec.rate + 1e-9))
            k0 = min(total, int(np.ceil(chunk * CHUNK_S * spec.rate - 1e-9)))
            k1 = min(total, int(np.ceil((chunk + 1) * CHUNK_S * spec.rate - 1e-9)))
            k = np.arange(k0, k1)
            if spec.rate not in jitters:
                jitters[spec.rate] = row_jitter(config, spec.rate, chunk, len(k))
            if len(k) == 0:
                out[loc] = (_empty(spec), np.zeros(0))
                continue
            block = chunk_block(plan.motion, spec, config, chunk, jitters[spec.rate], k)
            out[loc] = (block, _nominal_kept(block, config.start, spec.rate))
        yield chunk, out


def _nominal_kept(block: SensorBlock, start: float, rate: float) -> np.ndarray:
    # jitter is < half a sample, so rounding recovers each kept sample's nominal index
    return start + np.round((block.t - start) * rate) / rate


def _empty(spec: SensorSpec) -> SensorBlock:
    z = np.zeros((0, 3))
    return SensorBlock(spec.location, np.zeros(0), z, z if spec.gyro else None,
                       z if spec.mag else None)


def _allocate(spec: SensorSpec, n: int) -> SensorBlock:
    def triple():
        return np.empty((n, 3))

    return SensorBlock(spec.location, np.empty(n), triple(), triple() if spec.gyro else None,
                       triple() if spec.mag else None)


def iter_blocks(config: WearerConfig, chunk_s: float = 1.0) -> Iterator[dict[str, SensorBlock]]:
    """Stream the day as consecutive windows of ``chunk_s`` nominal seconds, in time order.

    Each item maps every simulated location to its samples in that window (an empty block when
    the sensor lost them all). Concatenated, the windows equal ``simulate(config).blocks``.
    """
    if chunk_s <= 0:
        raise ValueError(f"chunk_s must be positive, got {chunk_s}")
    plan, specs = prepare(config)
    pending: dict[str, list[tuple[SensorBlock, np.ndarray]]] = {loc: [] for loc in specs}
    window = 0
    n_windows = int(np.ceil(config.duration_s / chunk_s - 1e-9))
    for chunk, parts in _generate(config, plan, specs):
        for loc, part in parts.items():
            pending[loc].append(part)
        ready_until = config.start + min((chunk + 1) * CHUNK_S, config.duration_s)
        last = chunk == int(np.ceil(config.duration_s / CHUNK_S - 1e-9)) - 1
        blocks = {loc: SensorBlock.concat([b for b, _ in pending[loc]]) for loc in specs}
        nominal = {loc: np.concatenate([n for _, n in pending[loc]]) for loc in specs}
        cursor = dict.fromkeys(specs, 0)
        while window < n_windows:
            w_end = config.start + (window + 1) * chunk_s
            if w_end > ready_until + 1e-9 and not last:
                break
            out = {}
            for loc in specs:
                stop = int(np.searchsorted(nominal[loc], w_end - 1e-9, side="left"))
                out[loc] = blocks[loc].slice(cursor[loc], stop)
                cursor[loc] = stop
            yield out
            window += 1
        pending = {loc: [(blocks[loc].slice(cursor[loc], len(blocks[loc])),
                          nominal[loc][cursor[loc]:])] for loc in specs}


def simulate(config: WearerConfig,
             progress: Callable[[float], None] | None = None,
             plan: Plan | None = None,
             specs: dict[str, SensorSpec] | None = None) -> SimulatedDay:
    """Generate the whole day in memory: sensor blocks, truth and meta.

    ``progress`` (optional) is called with the fraction done after each internal chunk; ``plan``
    (optional, e.g. from ``schedule.plan_script``) replaces the seeded day plan; ``specs``
    (optional, from ``build_specs`` for that plan) the sensors' impairments, e.g. with a slip
    placed by a test.
    """
    if plan is None:
        plan, drawn = prepare(config)
    else:
        drawn = build_specs(config, plan) if specs is None else None
    specs = drawn if specs is None else specs
    # filled in place: concatenating chunk lists would double the peak memory of a long day
    filling = {loc: _allocate(spec, int(np.floor(config.duration_s * spec.rate + 1e-9)))
               for loc, spec in specs.items()}
    used = dict.fromkeys(specs, 0)
    n_chunks = int(np.ceil(config.duration_s / CHUNK_S - 1e-9))
    for chunk, out in _generate(config, plan, specs):
        for loc, (block, _) in out.items():
            lo, hi = used[loc], used[loc] + len(block)
            target = filling[loc]
            target.t[lo:hi] = block.t
            target.acc[lo:hi] = block.acc
            if block.gyr is not None:
                target.gyr[lo:hi] = block.gyr
            if block.mag is not None:
                target.mag[lo:hi] = block.mag
            used[loc] = hi
        if progress is not None:
            progress(0.9 * (chunk + 1) / n_chunks)
    blocks = {loc: filling[loc].slice(0, used[loc]) for loc in specs}
    truth = compute_truth(config, plan)
    if progress is not None:
        progress(1.0)
    return SimulatedDay(config, blocks, truth, build_meta(config, plan, specs, truth), plan, specs)


def build_meta(config: WearerConfig, plan: Plan, specs: dict[str, SensorSpec],
               truth: Truth | None = None) -> dict:
    """Everything a test may want to check about how the day was made."""
    slip = next(({"location": loc, **spec.meta()["slip"]} for loc, spec in specs.items()
                 if spec.slip_time is not None), None)
    dropout = next(({"location": loc, "start": round(s, 3), "end": round(e, 3)}
                    for loc, spec in specs.items() for s, e, kind in spec.loss_intervals
                    if kind == "dropout"), None)
    counts: dict[str, int] = {}
    for event in plan.events:
        key = event["kind"] + (f":{event['type']}" if "type" in event else "")
        counts[key] = counts.get(key, 0) + 1
    meta = {
        "generator": "posturewatch.simulators.wearer",
        "seed": config.seed,
        "start": config.start,
        "start_iso": datetime.fromtimestamp(config.start, UTC).isoformat().replace("+00:00", "Z"),
        "end": config.end,
        "hours": config.hours,
        "locations": list(config.sensor_locations),
        "rates": {loc: spec.rate for loc, spec in specs.items()},
        "head": config.has_head,
        "acc_only": list(config.acc_only),
        "mag": config.mag,
        "flips": dict(config.flips),
        "realism": asdict(config.realism),
        "realism_on": [k for k, v in config.realism.switches().items() if v],
        "gravity": GRAVITY,
        "earth_field_uT_enu": EARTH_FIELD_UT.tolist(),
        "days": config.days,
        "wear": asdict(config.wear),
        "wear_on": [k for k, v in config.wear.switches().items() if v],
        "in_bed": [list(span) for span in plan.in_bed],
        "nonwear": wear_truth.nonwear_rows(plan, config.sensor_locations),
        "transition_count": len(wear_truth.transitions(plan, config.sensor_locations)),
        "frames": "world ENU z up; segment axes (superior, anterior, left); sensor→world = "
                  "segment ∘ mounting ∘ misalignment ∘ slip; mounting columns = sensor axes in "
                  "segment coordinates",
        "sensors": {loc: spec.meta() for loc, spec in specs.items()},
        "slip": slip,
        "slips": wear_truth.slip_rows(specs),
        "dropout": dropout,
        "event_counts": counts,
        "events": plan.events,
    }
    if truth is not None:
        meta.update(truth_counts(truth))
    return meta


def truth_counts(*pieces: Truth) -> dict:
    """Episode counts by kind and the number of heel strikes in some truth pieces."""
    kinds: dict[str, int] = {}
    for piece in pieces:
        for ep in piece.episodes:
            kinds[ep.kind] = kinds.get(ep.kind, 0) + 1
    return {"truth_episode_counts": kinds, "step_count": sum(len(p.steps_t) for p in pieces)}
