import datetime as dt

from marketdata.calendar import bar_stamps, close_time, holidays, is_session, sessions


def test_2026_holidays_and_early_close():
    h = holidays(2026)
    assert dt.date(2026, 4, 3) in h  # Good Friday
    assert dt.date(2026, 11, 26) in h  # Thanksgiving
    assert dt.date(2026, 7, 3) in h  # July 4 is a Saturday: observed Friday
    assert dt.date(2026, 6, 19) in h
    assert close_time(dt.date(2026, 11, 27)) == dt.time(13, 0)
    assert not is_session(dt.date(2026, 3, 7))


def test_bar_stamps_are_session_minute_ends_in_utc():
    s = bar_stamps(dt.date(2026, 3, 2))  # EST: 14:30 UTC open
    assert len(s) == 390
    first = dt.datetime.fromtimestamp(s[0] / 1e9, dt.UTC)
    assert (first.hour, first.minute) == (14, 31)
    assert len(bar_stamps(dt.date(2026, 11, 27))) == 210
    summer = dt.datetime.fromtimestamp(bar_stamps(dt.date(2026, 7, 1))[0] / 1e9, dt.UTC)
    assert summer.hour == 13


def test_sessions_skip_weekends_and_holidays():
    days = sessions(dt.date(2026, 4, 1), 3)
    assert days == [dt.date(2026, 4, 1), dt.date(2026, 4, 2), dt.date(2026, 4, 6)]
