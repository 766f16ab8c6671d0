"""The Textual control room: a client of the core, embedded in the same asyncio loop."""
