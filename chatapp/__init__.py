"""chatapp: a small self-hosted chat server on aiohttp and SQLite."""

__version__ = "0.1.0"
