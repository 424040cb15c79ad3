from newsletter.delivery.rate_limit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_messages_per_second_are_held_to_the_limit():
    clock = FakeClock()
    limiter = RateLimiter(per_second=100, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        limiter.acquire(50)  # 500 messages
    assert 3.9 <= clock.now <= 4.1  # the first 100 go at once, the rest at 100/s


def test_messages_per_hour_are_spread_over_the_hour():
    clock = FakeClock()
    limiter = RateLimiter(per_hour=3600, clock=clock, sleep=clock.sleep)
    for _ in range(120):
        limiter.acquire(1)
    assert 59 <= clock.now <= 61  # a minute's worth of burst, then 1 per second


def test_zero_means_unlimited():
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    limiter.acquire(10**6)
    assert clock.now == 0
