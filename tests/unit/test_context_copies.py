"""The per-association copy of the listener's supported presentation contexts (pynetdicom_tuning, change 9)."""

from __future__ import annotations

import copy

import pynetdicom
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import Verification

from bridge.ingest.pynetdicom_tuning import copy_of_contexts


def _listener_contexts() -> list[PresentationContext]:
    """The contexts the listener supports (scp.Listener.start): Verification and every storage SOP class, in every
    transfer syntax."""
    ae = AE()
    ae.add_supported_context(Verification, list(ALL_TRANSFER_SYNTAXES))
    for context in pynetdicom.AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, list(ALL_TRANSFER_SYNTAXES))
    contexts: list[PresentationContext] = ae.supported_contexts
    contexts[1].scu_role, contexts[1].scp_role = True, False  # a role selection is copied too
    return contexts


def test_the_copies_equal_a_deep_copy_and_share_nothing_mutable() -> None:
    contexts = _listener_contexts()
    copies = copy_of_contexts(contexts)
    assert copies == copy.deepcopy(contexts)
    assert len(copies) == len(contexts) > 100
    assert (copies[1].scu_role, copies[1].scp_role) == (True, False)
    for original, copied in zip(contexts, copies, strict=True):
        assert copied is not original and copied.transfer_syntax is not original.transfer_syntax
    copies[0].transfer_syntax.append("1.2.3.4")  # type: ignore[arg-type]
    copies[0].result = 0x00
    assert "1.2.3.4" not in contexts[0].transfer_syntax and contexts[0].result is None


def test_anything_else_is_deep_copied() -> None:
    value = {"contexts": [[1, 2]], "uid": "1.2.3"}
    copied = copy_of_contexts(value)
    assert copied == value and copied["contexts"][0] is not value["contexts"][0]
    mixed = [PresentationContext(), [1]]
    copied_mixed = copy_of_contexts(mixed)
    assert copied_mixed == mixed and copied_mixed[1] is not mixed[1]
