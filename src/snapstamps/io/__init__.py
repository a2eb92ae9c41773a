"""I/O adapters: StaMPS export reading, external tools (snaphu), delay maps, atomic writes, JSON encoding."""
