"""Where checkpoints live: one interface, two implementations (as :mod:`serving.io.online_store`).

:class:`RedisCheckpointStore` for production (its own connection, short timeouts: the checkpoint writer runs on a
thread of its own and must never hang on a dead server) and :class:`InProcessCheckpointStore` for the embedded
default and tests. ``errors`` names what an outage raises: the writer retries on exactly those, and anything else
is a bug that propagates.
"""

from abc import ABC, abstractmethod


class CheckpointStore(ABC):
    """Named blobs under a group's prefix."""

    errors: tuple[type[BaseException], ...] = ()

    def __init__(self, group: str):
        self.prefix = f"tw:ckpt:{group}"

    @abstractmethod
    def put(self, items: dict[str, bytes]) -> None:
        """Store every item (key -> bytes), replacing what the keys held."""

    @abstractmethod
    def get(self, keys: list[str]) -> list[bytes | None]:
        """The bytes under each key (None where nothing is)."""

    @abstractmethod
    def delete(self, keys: list[str]) -> None:
        """Remove the keys (missing ones are fine)."""


class InProcessCheckpointStore(CheckpointStore):
    def __init__(self, group: str):
        super().__init__(group)
        self.data: dict[str, bytes] = {}

    def put(self, items: dict[str, bytes]) -> None:
        self.data.update(items)

    def get(self, keys: list[str]) -> list[bytes | None]:
        return [self.data.get(k) for k in keys]

    def delete(self, keys: list[str]) -> None:
        for k in keys:
            self.data.pop(k, None)


class RedisCheckpointStore(CheckpointStore):
    def __init__(self, url: str, group: str, timeout_s: float = 2.0):
        import redis

        super().__init__(group)
        self.r = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self.errors = (redis.ConnectionError, redis.TimeoutError)

    def put(self, items: dict[str, bytes]) -> None:
        for k, v in items.items():  # one SET each: Redis serves the online store's writes between the parts
            self.r.set(k, v)

    def get(self, keys: list[str]) -> list[bytes | None]:
        return list(self.r.mget(keys)) if keys else []

    def delete(self, keys: list[str]) -> None:
        if keys:
            self.r.delete(*keys)
