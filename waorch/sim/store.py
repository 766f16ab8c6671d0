"""The optional state file: paired devices and unregistered numbers survive a restart."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from waorch.sim.state import Device, SimState


def load(path: Path, state: SimState) -> None:
    """Fill ``state`` from ``path`` if the file exists."""
    if not path.exists():
        return
    try:
        data = json.loads(path.read_text())
        for item in data["devices"]:
            state.devices[item["id"]] = _device(item)
        state.unregistered.update(data["unregistered"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a simulator state file ({exc!r})") from exc


def save(path: Path, state: SimState) -> None:
    """Write the paired devices and unregistered numbers atomically, readable by the owner only."""
    devices = [_entry(device) for device in state.devices.values() if device.phone is not None]
    data = {"devices": devices, "unregistered": sorted(state.unregistered)}
    tmp = path.with_name(path.name + ".tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        json.dump(data, file)
    os.replace(tmp, path)


def _device(item: dict[str, Any]) -> Device:
    noise, identity, adv = item["keys"]
    return Device(item["id"], (noise, identity, adv), item["name"], phone=item["phone"], token_hash=item["tokenHash"])


def _entry(device: Device) -> dict[str, Any]:
    return {
        "id": device.id,
        "keys": list(device.keys),
        "name": device.name,
        "phone": device.phone,
        "tokenHash": device.token_hash,
    }
