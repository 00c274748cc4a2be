"""Association negotiation with the listener's per-association copies of its presentation contexts."""

from __future__ import annotations

from pathlib import Path

from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, Verification

from bridge.service.harness import Bridge

PRIVATE_SYNTAX = "1.2.826.0.1.3680043.8.498.999.1"  # a transfer syntax the listener does not know
PRIVATE_CLASS = "1.2.826.0.1.3680043.8.498.999.2"  # a SOP class it does not support (default settings)


def test_each_association_negotiates_from_an_untouched_set_of_contexts(tmp_path: Path) -> None:
    with Bridge.running(tmp_path / "bridge") as bridge:
        ae = AE(ae_title="HARNESS")
        ae.add_requested_context(Verification)
        ae.add_requested_context(CTImageStorage, [PRIVATE_SYNTAX])
        ae.add_requested_context(PRIVATE_CLASS)
        ae.add_requested_context(CTImageStorage, ["1.2.840.10008.1.2.4.50"])  # JPEG Baseline
        outcomes = []
        for _ in range(20):
            assoc = ae.associate("127.0.0.1", bridge.port, ae_title=bridge.ae_title)
            assert assoc.is_established
            accepted = {(cx.abstract_syntax, cx.transfer_syntax[0]) for cx in assoc.accepted_contexts}
            rejected = {(cx.abstract_syntax, cx.result) for cx in assoc.rejected_contexts}
            outcomes.append((frozenset(accepted), frozenset(rejected)))
            assert int(assoc.send_c_echo().Status) == 0x0000
            assoc.release()
    assert outcomes[0] == (
        frozenset({(Verification, "1.2.840.10008.1.2"), (CTImageStorage, "1.2.840.10008.1.2.4.50")}),
        frozenset({(CTImageStorage, 0x04), (PRIVATE_CLASS, 0x03)}),  # transfer syntax, abstract syntax not supported
    )
    assert set(outcomes) == {outcomes[0]}
