"""How neonize reaches WhatsApp: through the session's SOCKS5 proxy, or directly."""

from __future__ import annotations

from dataclasses import dataclass

from waorch.proxy_url import ProxyURL, parse_proxy_url
from waorch.worker.neonize.lib import ProxySettings


@dataclass(frozen=True)
class ProxyRoute:
    """The proxy address neonize is given, what logs may say about it, and the proxy whose
    credentials to keep out of them."""

    address: str | None
    redacted: str
    proxy: ProxyURL | None = None

    @classmethod
    def from_url(cls, url: str | None) -> ProxyRoute:
        """``socks5h://`` becomes ``socks5://``: neonize refuses socks5h, and its socks5 resolves at the proxy."""
        if not url:
            return cls(None, "no proxy (direct connection)")
        proxy = parse_proxy_url(url)
        address = proxy.url
        if proxy.scheme == "socks5h":
            address = "socks5://" + address.removeprefix("socks5h://")
        return cls(address, proxy.redacted, proxy)

    @property
    def proxied(self) -> bool:
        """Whether connections go through a proxy."""
        return self.address is not None

    def settings(self) -> ProxySettings | None:
        """What ``NewAClient.connect`` takes."""
        return ProxySettings(proxy_address=self.address) if self.address else None

    def redact(self, text: str) -> str:
        """``text`` with the proxy's user name and password replaced by ``***``."""
        return self.proxy.scrub(text) if self.proxy else text
