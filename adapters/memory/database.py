class InMemoryDatabase:
    """Stands in for the PostgreSQL pool when every repository is in memory (unit tests)."""

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def check(self) -> None:
        return None
