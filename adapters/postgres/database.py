"""One asynchronous connection pool per deployable, opened in the app's lifespan."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool


class Database:
    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 16, name: str = "bursar") -> None:
        self.pool = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            name=name,
            kwargs={"application_name": name},
        )

    async def open(self) -> None:
        await self.pool.open(wait=True, timeout=15)

    async def close(self) -> None:
        await self.pool.close()

    async def check(self) -> None:
        """Raises unless a connection answers a query within the pool's timeout."""
        async with self.pool.connection(timeout=2) as conn:
            await conn.execute("SELECT 1")
