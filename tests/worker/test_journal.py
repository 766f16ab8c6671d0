"""The send journal after a crash: a torn last line costs neither the entries before it nor after it."""

from __future__ import annotations

from pathlib import Path

from waorch.worker.journal import JOURNAL_FILE, SendJournal


def test_an_entry_after_a_torn_line_is_kept(tmp_path: Path) -> None:
    SendJournal(tmp_path).record("msg_1", "sent", waId="W1")
    with open(tmp_path / JOURNAL_FILE, "a") as journal:
        journal.write('{"id": "msg_2", "sta')  # power cut in the middle of an append
    SendJournal(tmp_path).record("msg_3", "attempt", to="972522222222")
    again = SendJournal(tmp_path)
    assert again.lookup("msg_1") == {"id": "msg_1", "state": "sent", "waId": "W1"}
    assert again.lookup("msg_3") == {"id": "msg_3", "state": "attempt", "to": "972522222222"}
    assert (tmp_path / JOURNAL_FILE).stat().st_mode & 0o777 == 0o600
