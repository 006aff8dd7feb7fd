"""The words a wearer reads: title and message of an alert per episode kind."""

from __future__ import annotations

from datetime import datetime, tzinfo

from posturewatch.analytics.records import Episode


def alert_text(episode: Episode, now: float) -> tuple[str, str]:
    """(title, message) for an alert about ``episode`` issued at ``now``."""
    minutes = max(0, round((now - episode.start) / 60))
    if episode.kind == "prolonged_sitting":
        return (
            f"Sitting for {minutes} min",
            f"You have been sitting for {minutes} minutes. "
            "Stand up and move for a minute or two.",
        )
    if episode.kind == "posterior_tilt":
        return (
            "Pelvis tilted back",
            "You are slumping: your pelvis has been tilted backwards for a while. "
            "Sit up on your sit bones and let your lower back curve.",
        )
    if episode.kind == "forward_head":
        return (
            "Upper back rounded",
            "Your upper back and head are leaning forward. "
            "Lift your chest, draw your chin back, bring the screen up.",
        )
    if episode.kind == "lumbar_bend":
        return (
            "Bend at the hips",
            "That bend came mostly from your lower back. "
            "Next time hinge at the hips and bend your knees.",
        )
    return (episode.kind.replace("_", " ").capitalize(), f"Episode {episode.id}")


def budget_exhausted_text(used: int, budget: int, resumes_ts: float, zone: tzinfo) -> tuple[str, str]:
    """(title, message) saying once a day that the reminder budget is spent."""
    resumes = datetime.fromtimestamp(resumes_ts, zone).strftime("%H:%M")
    return (
        "No more reminders today",
        f"That was reminder {used} of {budget} for today. "
        f"Reminders start again tomorrow at {resumes}; keep moving and sitting tall meanwhile.",
    )
