"""Training goals: easy at the start, one step tighter after each week the goal was met."""

from __future__ import annotations

from datetime import date, timedelta

from posturewatch.alerts.training import TrainingSettings, training_goal

START = date(2026, 1, 5)
ON = TrainingSettings(enabled=True, start_date=START.isoformat())


def test_off_or_not_started_gives_no_goal():
    assert training_goal(TrainingSettings(), START) is None
    assert training_goal(ON, START - timedelta(days=1)) is None


def test_first_week_uses_the_start_goals():
    goal = training_goal(ON, START + timedelta(days=6))
    assert goal.week == 0 and goal.step == 0
    assert (goal.sitting_bout_max_min, goal.slumped_max_pct) == (60.0, 40.0)


def test_goals_rise_only_after_weeks_that_were_met():
    # weeks 0 and 1 met (5 and 4 days), week 2 missed (2 days): two steps of five in week 3
    goal = training_goal(ON, START + timedelta(weeks=3), [5, 4, 2, 7])
    assert goal.week == 3 and goal.step == 2 and goal.steps == 5
    assert goal.sitting_bout_max_min == 54.0 and goal.slumped_max_pct == 32.0
    # the current week's own progress does not count yet
    assert training_goal(ON, START + timedelta(weeks=3, days=6), [5, 4, 2, 7]).step == 2


def test_the_final_goals_are_reached_and_kept():
    goal = training_goal(ON, START + timedelta(weeks=20), [7] * 20)
    assert goal.step == goal.steps == 5
    assert (goal.sitting_bout_max_min, goal.slumped_max_pct) == (45.0, 20.0)
    single = TrainingSettings(enabled=True, start_date=START.isoformat(), weeks=1)
    assert training_goal(single, START).sitting_bout_max_min == 45.0


def test_streaks_count_valid_days_in_a_row_and_remember_the_best():
    from posturewatch.alerts.training import Streak, streak

    assert streak([]) == Streak(0, 0)
    assert streak([True, True, False, True]) == Streak(1, 2)
    # a day without enough wear (None) neither breaks nor extends the streak
    assert streak([True, None, True, None, None, True]) == Streak(3, 3)
    assert streak([True, True, True, False, None]) == Streak(0, 3)
    assert streak([False, True, True, True, True, False, True, True]) == Streak(2, 4)
