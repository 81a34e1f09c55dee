"""A tenant's days (D1: "counted from the day it is set"; E2–E4 count days from recall dates)."""
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bookflow_recall.domain.calendar import TenantCalendar, add

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def test_two_weeks_from_the_third_is_the_seventeenth_at_the_same_time_of_day():
    # Seed 003: set on the 3rd with an interval of 2 weeks, it is sent on the 17th.
    calendar = TenantCalendar(STOCKHOLM)
    day, at = calendar.later(datetime(2027, 3, 3, 14, 20, tzinfo=STOCKHOLM), 2, "weeks")
    assert (day, at) == (date(2027, 3, 17), datetime(2027, 3, 17, 14, 20, tzinfo=STOCKHOLM))


def test_the_day_is_the_tenants_day_not_utcs():
    calendar = TenantCalendar(STOCKHOLM)
    late_evening_utc = datetime(2027, 5, 3, 22, 30, tzinfo=UTC)  # already 4 May in Stockholm
    day, at = calendar.later(late_evening_utc, 10, "days")
    assert day == date(2027, 5, 14) and at == datetime(2027, 5, 14, 0, 30, tzinfo=STOCKHOLM)
    assert at.astimezone(UTC) == datetime(2027, 5, 13, 22, 30, tzinfo=UTC)  # 10 days counted from Stockholm's 4 May


def test_the_same_wall_clock_time_across_a_change_to_summer_time():
    calendar = TenantCalendar(STOCKHOLM)
    _, at = calendar.later(datetime(2027, 3, 20, 10, 0, tzinfo=STOCKHOLM), 2, "weeks")  # clocks go forward on 28 March
    assert at.hour == 10 and at.utcoffset() == timedelta(hours=2)


def test_months_keep_the_day_or_take_the_last_of_a_shorter_month():
    assert add(date(2027, 1, 31), 1, "months") == date(2027, 2, 28)
    assert add(date(2028, 1, 31), 1, "months") == date(2028, 2, 29)
    assert add(date(2027, 8, 15), 6, "months") == date(2028, 2, 15)
    assert add(date(2027, 12, 3), 3, "days") == date(2027, 12, 6)


def test_a_fast_tenant_lives_days_of_a_few_seconds_from_its_origin():
    origin = datetime(2027, 1, 10, 9, 0, 0, 500_000, tzinfo=UTC)
    calendar = TenantCalendar(STOCKHOLM, timedelta(seconds=2), origin)
    assert calendar.day_of(origin) == date(2027, 1, 10)
    assert calendar.day_of(origin + timedelta(seconds=5)) == date(2027, 1, 12)
    assert calendar.start_of(date(2027, 1, 13)) == origin + timedelta(seconds=6)
    assert calendar.next_day_starts(origin + timedelta(seconds=5)) == origin + timedelta(seconds=6)
    day, at = calendar.later(origin + timedelta(seconds=1), 1, "weeks")
    assert (day, at) == (date(2027, 1, 17), origin + timedelta(seconds=15))
