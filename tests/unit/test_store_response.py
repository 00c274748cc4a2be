"""The listener's directly encoded C-STORE response is byte for byte what pynetdicom encodes."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pynetdicom.dimse_messages import C_STORE_RSP
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import encode

from bridge.ingest.pynetdicom_tuning import store_response_command

UIDS = st.text(alphabet="0123456789.", min_size=1, max_size=64)


def _primitive(message_id: int, status: int, sop_class: str | None, sop_instance: str | None) -> C_STORE:
    """pynetdicom keeps a UID it finds invalid, with a warning: a hostile peer's UIDs come back in responses."""
    primitive = C_STORE()
    primitive.MessageIDBeingRespondedTo = message_id
    primitive.Status = status
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if sop_class is not None:
            primitive.AffectedSOPClassUID = sop_class
        if sop_instance is not None:
            primitive.AffectedSOPInstanceUID = sop_instance
    return primitive


def _pynetdicom_command(primitive: C_STORE) -> bytes:
    message = C_STORE_RSP()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        message.primitive_to_message(primitive)
        return bytes(encode(message.command_set, True, True))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), UIDS, st.none() | UIDS)
def test_plain_responses_are_encoded_as_pynetdicom_encodes_them(
    message_id: int, status: int, sop_class: str, sop_instance: str | None
) -> None:
    primitive = _primitive(message_id, status, sop_class, sop_instance)
    command = store_response_command(primitive)
    assert command is not None
    assert command == _pynetdicom_command(primitive)


def test_a_success_response_of_a_ct_instance() -> None:
    primitive = _primitive(7, 0x0000, "1.2.840.10008.5.1.4.1.1.2", "2.25.12345")
    command = store_response_command(primitive)
    assert command is not None and command == _pynetdicom_command(primitive)
    assert command[:12] == bytes.fromhex("00000000 04000000") + (len(command) - 12).to_bytes(4, "little")
    assert b"1.2.840.10008.5.1.4.1.1.2\x00" in command and command.endswith(b"2.25.12345")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda p: setattr(p, "ErrorComment", "cannot store: disk full"), "an Error Comment"),
        (lambda p: setattr(p, "OffendingElement", [0x00100010]), "an Offending Element"),
        (lambda p: setattr(p, "AffectedSOPClassUID", None), "no SOP Class UID"),
        (lambda p: setattr(p, "AffectedSOPInstanceUID", "1.2.x"), "a UID that is not digits and dots"),
    ],
)
def test_other_responses_are_left_to_pynetdicom(change: object, why: str) -> None:
    primitive = _primitive(1, 0xA700, "1.2.840.10008.5.1.4.1.1.2", "2.25.1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        change(primitive)  # type: ignore[operator]
    assert store_response_command(primitive) is None, why
