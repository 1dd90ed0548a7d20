"""Client identifiers and secrets as they are generated."""

from __future__ import annotations

import string

from quivive.domain.clients import CLIENT_ID_BYTES, new_client_id


def test_client_ids_are_unguessable_and_safe_to_type_on_a_command_line() -> None:
    ids = {new_client_id() for _ in range(2000)}

    assert len(ids) == 2000
    # base64url ids began with "-" one time in 64, and the CLI then read them as an option.
    assert all(set(client_id) <= set(string.hexdigits.lower()) for client_id in ids)
    assert {len(client_id) for client_id in ids} == {2 * CLIENT_ID_BYTES}
