"""The sandbox keeps glibc to few malloc arenas and gives free memory back every so many requests (allocator.py):
checked against a recording stand-in for the C library, and once against the real one where it is glibc."""

from __future__ import annotations

from typing import Any

from b24_1c_sandbox.allocator import ARENAS, M_ARENA_MAX, Allocator


class Libc:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append(("mallopt", (param, value)))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad))
        return 1


def test_arenas_are_limited_and_memory_given_back_every_so_many_requests() -> None:
    allocator = Allocator(trim_every=3)
    allocator._libc = libc = Libc()
    allocator.limit_arenas()
    for _ in range(7):
        allocator.served()
    assert libc.calls == [("mallopt", (M_ARENA_MAX, ARENAS)), ("malloc_trim", 0), ("malloc_trim", 0)]
    assert allocator.trims == 2


def test_without_the_c_library_nothing_is_called() -> None:
    allocator = Allocator(trim_every=1)
    allocator._libc = None
    allocator.limit_arenas()
    allocator.served()
    assert allocator.trims == 0 and not allocator.active


def test_a_started_sandbox_serves_with_the_real_allocator() -> None:
    from b24_1c_sandbox.allocator import ALLOCATOR
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    before = ALLOCATOR._requests
    with Sandbox(SandboxOptions(orders=5, seed=1, rate_limit="off")) as box:
        import requests

        assert requests.get(box.odata_url + "$metadata", timeout=10).status_code in (200, 401)
    assert ALLOCATOR._requests > before  # every answered request is counted toward the next trim
