"""The cluster reader's poll script (:data:`server.reader.POLL_SCRIPT`) on a real redis-server:
one round trip per master answers only for the halls with news, a seq gone back, or that
asked (not started yet, or marked down), with at most 500 entries after the last seq read."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from server.reader import POLL_SCRIPT, poll_line


async def hall_with_events(redis: Redis, hall: str, events: int) -> None:
    for seq in range(1, events + 1):
        await redis.xadd(f"hallq:{{{hall}}}:events", {"e": f'{{"seq": {seq}}}'}, id=f"{seq}-0")
    await redis.set(f"hallq:{{{hall}}}:seq", events)


def args(*halls: tuple[str, int, int]) -> list[Any]:
    """(hall, last seq read, must answer) each: the script's ARGV (one line per hall)."""
    lines = (poll_line(f"hallq:{{{hall}}}:seq hallq:{{{hall}}}:events", last, bool(ask)) for hall, last, ask in halls)
    return ["\n".join(lines)]


async def poll(redis: Redis, *halls: tuple[str, int, int]) -> list[Any]:
    answer: list[Any] = await redis.eval(POLL_SCRIPT, 0, *args(*halls))  # type: ignore[misc]
    return answer


async def test_a_quiet_city_is_answered_with_nothing(redis: Redis) -> None:
    for n in range(5):
        await hall_with_events(redis, f"h{n}", 3)
    assert await poll(redis, *((f"h{n}", 3, 0) for n in range(5))) == []


async def test_only_the_halls_with_news_are_answered_with_what_they_missed(redis: Redis) -> None:
    await hall_with_events(redis, "a", 3)
    await hall_with_events(redis, "b", 5)
    await hall_with_events(redis, "c", 2)
    answer = await poll(redis, ("a", 3, 0), ("b", 2, 0), ("c", 2, 0))
    assert answer == [
        [2, 5, [["3-0", ["e", '{"seq": 3}']], ["4-0", ["e", '{"seq": 4}']], ["5-0", ["e", '{"seq": 5}']]]]
    ]


async def test_a_hall_that_asks_or_went_back_is_answered_without_entries(redis: Redis) -> None:
    await hall_with_events(redis, "a", 3)
    await hall_with_events(redis, "b", 3)
    await hall_with_events(redis, "c", 3)
    # a: not started yet (-1); b: marked down, must hear its seq; c: its store went back to 1
    await redis.set("hallq:{c}:seq", 1)
    answer = await poll(redis, ("a", -1, 1), ("b", 3, 1), ("c", 3, 0), ("d", 0, 0))
    assert answer == [[1, 3, []], [2, 3, []], [3, 1, []]]  # d: no seq yet and none read: quiet


async def test_a_long_backlog_comes_500_entries_at_a_time(redis: Redis) -> None:
    await hall_with_events(redis, "a", 1200)
    first = await poll(redis, ("a", 0, 0))
    assert len(first[0][2]) == 500 and first[0][2][0][0] == "1-0" and first[0][2][-1][0] == "500-0"
    second = await poll(redis, ("a", 500, 0))
    assert second[0][2][0][0] == "501-0"
