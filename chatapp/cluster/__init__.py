"""Many chatapp processes on one PostgreSQL: what a node needs beyond one machine (docs/scaling.md).

- :mod:`.follower`: follows every shard of the shared log and hands rows over in id order;
- :mod:`.hub`: the hub of a node, which delivers what the follower reads, never its own writes;
- :mod:`.node`: the node events (a room locked, deleted or made private, a member removed or
  deactivated) and announcing them to the other nodes through the log;
- :mod:`.events`: applying node events read from the log to this node's state;
- :mod:`.presence`: presence and typing across nodes over Redis (what may be lost);
- :mod:`.setup`: wiring it into the app, only when ``database_url`` is set;
- :mod:`.services` and :mod:`.runner`: ``make cluster``, the engines and nodes on one machine.

Kept light on purpose: the modules that announce changes import :mod:`.node` alone.
"""
