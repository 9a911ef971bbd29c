"""The benchmark: chatapp against a bare aiohttp relay, under the same load (``make bench``)."""
