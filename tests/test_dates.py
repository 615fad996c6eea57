"""Date ranges and single dates as cities write them."""

from __future__ import annotations

import datetime as dt

import pytest

from parsers.dates import parse_date, parse_date_range, week_problems

D = dt.date
MAIL = D(2020, 2, 24)  # a Monday: the report for 17-23 February is due
WEEK = (D(2020, 2, 17), D(2020, 2, 23))


@pytest.mark.parametrize(
    "text",
    [
        "2月17日——2月23日",
        "2月17日-2月23日",
        "2月17日-23日",
        "2月17日至2月23日",
        "2月17日到23日",
        "2月17号-2月23号",
        "2020.2.17-2.23",
        "2020.02.17-2020.02.23",
        "2020年2月17日至23日",
        "2020年2月17日-2020年2月23日",
        "2020年02月17日-02月23日",
        "2020/2/17~2020/2/23",
        "2020/2/17～2020/2/23",
        "2020-02-17至2020-02-23",
        "2020-02-17—2020-02-23",
        "2020-02-17 - 2020-02-23",
        "02.17-02.23",
        "2.17-2.23",
        "２月１７日－２月２３日",
        "２０２０年２月１７日　至　２月２３日",
        "2 月 17 日 — 2 月 23 日",
        "2020年2月17日（星期一）至2月23日（星期日）",
        "2月17日(周一)-2月23日(周日)",
        "2月17日0时至2月23日24时",
        "20200217-20200223",
        "2020-02-17 2020-02-23",
        "时间： 2020-02-17 00:00:00 2020-02-23 00:00:00",
        "时间：2月17日-2月23日",
        "企业职工线上适岗技能提升培训备案情况统计表（2020年2月17日-23日）",
    ],
)
def test_week_ranges(text: str) -> None:
    assert parse_date_range(text, MAIL) == WEEK


@pytest.mark.parametrize(
    ("text", "ref", "expected"),
    [
        # across the year end: the start is in the previous year when the mail comes in January
        ("12月28日-1月3日", D(2021, 1, 4), (D(2020, 12, 28), D(2021, 1, 3))),
        ("12月28日-1月3日", D(2020, 12, 31), (D(2020, 12, 28), D(2021, 1, 3))),
        ("2020年12月28日-1月3日", D(2021, 1, 4), (D(2020, 12, 28), D(2021, 1, 3))),
        ("12月28日-2021年1月3日", D(2021, 1, 4), (D(2020, 12, 28), D(2021, 1, 3))),
        ("12.28-1.3", D(2021, 1, 5), (D(2020, 12, 28), D(2021, 1, 3))),
        # across a month end without a second month
        ("1月27日-2日", D(2020, 2, 3), (D(2020, 1, 27), D(2020, 2, 2))),
        ("3月30日至4月5日", D(2020, 4, 7), (D(2020, 3, 30), D(2020, 4, 5))),
        # a late report: the year still comes from the mail
        ("2月17日-2月23日", D(2020, 3, 10), WEEK),
        # mail in early January about the last December week
        ("12月23日-12月29日", D(2020, 1, 6), (D(2019, 12, 23), D(2019, 12, 29))),
        # February 29th exists only in leap years
        ("2月24日-3月1日", D(2020, 3, 2), (D(2020, 2, 24), D(2020, 3, 1))),
    ],
)
def test_years_from_reference(text: str, ref: dt.date, expected: tuple[dt.date, dt.date]) -> None:
    assert parse_date_range(text, ref) == expected


@pytest.mark.parametrize(
    "text",
    ["", "地市名称：广州市", "2020年2月17日", "第8周", "2月30日-3月5日", "2020年2月23日-2020年2月17日",
     "联系电话：020-12345678"],
)
def test_no_range(text: str) -> None:
    assert parse_date_range(text, MAIL) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-02-17", D(2020, 2, 17)),
        ("2020-02-17 00:00:00", D(2020, 2, 17)),
        ("2020-02-17T00:00:00", D(2020, 2, 17)),
        ("2020年2月17日", D(2020, 2, 17)),
        ("２０２０年２月１７日", D(2020, 2, 17)),
        ("2020.2.17", D(2020, 2, 17)),
        ("2020/2/17", D(2020, 2, 17)),
        ("20200217", D(2020, 2, 17)),
        ("2月24日", D(2020, 2, 24)),
        ("43878", D(2020, 2, 17)),  # Excel serial day number
        ("填报日期：2020年2月24日（星期一）", D(2020, 2, 24)),
    ],
)
def test_parse_date(text: str, expected: dt.date) -> None:
    assert parse_date(text, MAIL) == expected


@pytest.mark.parametrize("text", ["", "无", "2020年2月30日", "123"])
def test_parse_date_none(text: str) -> None:
    assert parse_date(text, MAIL) is None


def test_december_single_date_in_january_mail() -> None:
    assert parse_date("12月30日", D(2021, 1, 4)) == D(2020, 12, 30)


@pytest.mark.parametrize(
    ("start", "end", "problems"),
    [
        (D(2020, 2, 17), D(2020, 2, 23), []),
        (D(2020, 2, 18), D(2020, 2, 24),
         ["统计时间2020年2月18日至2020年2月24日不是周一至周日（起始日为周二，截止日为周一）"]),
        (D(2020, 2, 17), D(2020, 2, 21),
         ["统计时间2020年2月17日至2020年2月21日不是周一至周日（起始日为周一，截止日为周五）",
          "统计时间2020年2月17日至2020年2月21日共5天，不是一周7天"]),
        (D(2020, 2, 10), D(2020, 2, 23), ["统计时间2020年2月10日至2020年2月23日共14天，不是一周7天"]),
    ],
)
def test_week_problems(start: dt.date, end: dt.date, problems: list[str]) -> None:
    assert week_problems(start, end) == problems


def test_a_period_without_a_year_is_taken_in_the_past_of_the_mail() -> None:
    # mailed in November: last February, not next February (which would be nearer)
    assert parse_date_range("2月17日——2月23日", dt.date(2026, 11, 25)) == (dt.date(2026, 2, 17), dt.date(2026, 2, 23))
    # a week that is only days ahead of the mail is still taken as written
    assert parse_date_range("2月17日——2月23日", dt.date(2020, 2, 10)) == (dt.date(2020, 2, 17), dt.date(2020, 2, 23))
