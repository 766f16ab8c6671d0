"""The error tree says what kind of refusal each error is, and the HTTP layer answers each kind with its status:
every error answered 409 is a ``Conflict``, every one answered 503 an ``Unavailable`` (so a caller catching the
class catches every error of the status, and a local call raises what a remote one does)."""

from __future__ import annotations

import pytest
from support import every_kind

from waorch.api.spec import REDIS_CODES, UNAVAILABLE_MEANINGS
from waorch.api.statuses import BY_CODE, STATUSES, status_of
from waorch.errors import Conflict, Unavailable, WaorchError


@pytest.mark.parametrize("kind", every_kind(), ids=lambda kind: kind.__name__)
def test_every_error_is_of_at_most_one_kind_and_409_means_conflict_and_503_unavailable(kind: type[WaorchError]) -> None:
    kinds = [listed for listed in kind.__mro__ if listed in STATUSES]
    assert len(kinds) <= 1, f"{kind.__name__} is of several kinds: {kinds}"
    status = status_of(kind.__new__(kind))  # (ConfigError is made differently; only the class matters)
    assert (status == 409) == issubclass(kind, Conflict), (kind.__name__, status)
    assert (status == 503) == issubclass(kind, Unavailable), (kind.__name__, status)


@pytest.mark.parametrize("code", [*UNAVAILABLE_MEANINGS, *REDIS_CODES])
def test_every_code_the_document_gives_a_503_is_an_unavailable_error(code: str) -> None:
    assert issubclass(BY_CODE[code], Unavailable)
