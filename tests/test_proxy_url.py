"""A proxy's credentials in free text (an engine's error message, say): every occurrence that stands as a
token of its own goes, plain or URL-encoded, and a short password leaves the words around it readable."""

from __future__ import annotations

import pytest

from waorch.proxy_url import parse_proxy_url
from waorch.worker.neonize.route import ProxyRoute


def test_proxy_credentials_are_masked_in_free_text() -> None:
    proxy = parse_proxy_url("socks5h://acct-7f3k:p%40ss@127.0.0.1:1080")
    said = "dial socks5://acct-7f3k:p%40ss@127.0.0.1:1080 failed: user acct-7f3k refused (password p@ss); acct-7f3kx"
    assert (
        proxy.scrub(said) == "dial socks5://***:***@127.0.0.1:1080 failed: user *** refused (password ***); acct-7f3kx"
    )


@pytest.mark.parametrize("password", ["ab", "1", "on", "a"])
def test_a_short_password_leaves_the_words_that_contain_it_readable(password: str) -> None:
    route = ProxyRoute.from_url(f"socks5h://acct:{password}@127.0.0.1:1080")
    said = "unable to dial proxy.example:1080 after 12 tries: connection abandoned, probably blocked"
    assert route.redact(said) == said


@pytest.mark.parametrize(
    ("said", "shown"),
    [
        ("dial socks5://acct:ab@127.0.0.1:1080 failed", "dial socks5://***:***@127.0.0.1:1080 failed"),
        ("password=ab&user=acct", "password=***&user=***"),
        ("bad password 'ab', \"ab\" or `ab`.", "bad password '***', \"***\" or `***`."),
        ("ab", "***"),
        ("(ab) [ab] {ab} <ab> ab; ab, ab! ab? ab:ab/ab", "(***) [***] {***} <***> ***; ***, ***! ***? ***:***/***"),
        ("tab\tab\nab_ab", "tab\t***\n***_***"),
        ("proxy=socks5%3A%2F%2Facct%3Aab%40127.0.0.1", "proxy=socks5%3A%2F%2F***%3A***%40127.0.0.1"),
        (r"sent b'\x01\x04acct\x02ab' got b'\x01\x01'", r"sent b'\x01\x04***\x02***' got b'\x01\x01'"),
        ("unable: ab-ab abab", "unable: ***-*** abab"),
    ],
)
def test_every_occurrence_that_stands_as_a_token_goes(said: str, shown: str) -> None:
    route = ProxyRoute.from_url("socks5h://acct:ab@127.0.0.1:1080")
    assert route.redact(said) == shown


def test_a_password_of_punctuation_goes_wherever_it_stands_plain_or_url_encoded() -> None:
    proxy = parse_proxy_url("socks5h://u:%21%40%3A@127.0.0.1:1080")  # the password is !@:
    assert proxy.scrub("auth failed for x!@:y and %21%40%3A") == "auth failed for x***y and ***"


def test_overlapping_occurrences_leave_none_standing_alone() -> None:
    proxy = parse_proxy_url("socks5h://u:a-a@127.0.0.1:1080")
    assert proxy.scrub("xa-a-a and a-a") == "xa-*** and ***"
