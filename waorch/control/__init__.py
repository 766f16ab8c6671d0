"""How a client acts on the fleet: on the core in this process, or on the active core over its API."""

from waorch.control.base import Control
from waorch.control.local import LocalControl
from waorch.control.remote import RemoteControl

__all__ = ["Control", "LocalControl", "RemoteControl"]
