"""The WhatsApp network simulator (``waorch sim``).

Rotating QR codes, pairing, delivery, incoming messages, disconnects, logouts and temporary bans,
on loopback.
"""

from waorch.sim.server import SimOptions, SimServer, serve_forever

__all__ = ["SimOptions", "SimServer", "serve_forever"]
