"""The parts of neonize waorch uses, imported in one place.

Importing neonize 0.5.2 runs ``os.popen("uname -a")`` and drops the pipe unclosed: a ``uname``
child is left to be reaped at some later ``subprocess`` call, with ResourceWarnings there (errors
under ``-W error``). While neonize is imported here, ``os.popen`` hands back the command's output
with the pipe closed and the child reaped.
"""

import io
import os

_os_popen = os.popen


def _read_and_close(command: str, mode: str = "r", buffering: int = -1) -> io.StringIO:
    with _os_popen(command, mode, buffering) as pipe:
        return io.StringIO(pipe.read())


os.popen = _read_and_close  # type: ignore[assignment]  # a file-like with read() is all neonize uses
try:
    from neonize._binder import ProxySettings
    from neonize.aioze.client import NewAClient
    from neonize.aioze.events import (
        ClientOutdatedEv,
        ConnectedEv,
        ConnectFailureEv,
        DisconnectedEv,
        KeepAliveRestoredEv,
        KeepAliveTimeoutEv,
        LoggedOutEv,
        MessageEv,
        PairStatusEv,
        StreamReplacedEv,
        TemporaryBanEv,
    )
    from neonize.exc import (
        IsOnWhatsAppError,
        LogoutError,
        PairPhoneError,
        SendMessageError,
        SendPresenceError,
    )
    from neonize.proto import Neonize_pb2 as pb
    from neonize.proto.waCompanionReg.WAWebProtobufsCompanionReg_pb2 import DeviceProps
    from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message
    from neonize.utils.enum import ChatPresence, ChatPresenceMedia, ClientName, ClientType
    from neonize.utils.message import extract_text
finally:
    os.popen = _os_popen

__all__ = [
    "ChatPresence",
    "ChatPresenceMedia",
    "ClientName",
    "ClientOutdatedEv",
    "ClientType",
    "ConnectFailureEv",
    "ConnectedEv",
    "DeviceProps",
    "DisconnectedEv",
    "IsOnWhatsAppError",
    "KeepAliveRestoredEv",
    "KeepAliveTimeoutEv",
    "LoggedOutEv",
    "LogoutError",
    "Message",
    "MessageEv",
    "NewAClient",
    "PairPhoneError",
    "PairStatusEv",
    "ProxySettings",
    "SendMessageError",
    "SendPresenceError",
    "StreamReplacedEv",
    "TemporaryBanEv",
    "extract_text",
    "pb",
]
