"""The generated KOS manifest forwarded by C-STORE to a PACS (DCMTK storescp): dead-lettered while the PACS is
down, delivered once it is up and the dead letter is replayed; the PACS holds the very manifest the bridge wrote."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from pydicom import dcmread

from bridge import Bridge
from bridge.store import DeliveryState
from tests.factories import wait_for
from tests.fault_proxy import free_port

SAMPLE = Path(__file__).resolve().parents[2] / "sample_dicom"
FILES = sorted(SAMPLE.rglob("*.dcm"))
STUDY_UID = str(dcmread(FILES[0], stop_before_pixels=True).StudyInstanceUID)




def test_the_kos_manifest_reaches_the_pacs_after_a_dead_letter_is_replayed(dcmtk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    received = tmp_path / "pacs"
    received.mkdir()
    forward = {"name": "pacs", "ae_title": "PACS", "host": "127.0.0.1", "port": port, "timeout": 5.0,
               "backoff": 0.1, "backoff_cap": 0.2, "max_attempts": 2}
    manifest = {"retrieve": {"wado_rs_base_url": "https://pacs.example.org/dicomweb",
                             "retrieve_location_uid": "1.2.3.4.5.6"}, "forward": forward}
    with Bridge.running(tmp_path, quiet_period=0.5, manifest=manifest, delivery={"poll_interval": 0.05}) as bridge:
        store = bridge.service.store
        assert store is not None
        assert bridge.send(FILES) == [0] * len(FILES)
        bridge.wait_idle()
        wait_for(lambda: [d.state for d in store.deliveries_of(STUDY_UID)] == [DeliveryState.DEAD], "the dead letter")
        [dead] = store.dead_letters("pacs")
        assert dead.attempts == 2 and "no association with PACS" in (dead.last_error or "")

        env = {**os.environ, "TCP_NODELAY": "1"}
        pacs = subprocess.Popen([dcmtk.tools["storescp"], "--aetitle", "PACS", "--output-directory", str(received),
                                 str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            requeued, superseded = store.replay(None, time.time())
            assert (requeued, superseded) == ([dead.delivery_id], [])
            wait_for(lambda: store.deliveries_of(STUDY_UID)[0].state is DeliveryState.DELIVERED, "the replay")
        finally:
            pacs.terminate()
            pacs.wait(10)
        written = dcmread(bridge.output_dir / STUDY_UID / "manifest.dcm")
    [stored] = list(received.iterdir())
    kos = dcmread(stored)
    assert kos.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.59"
    assert kos.SOPInstanceUID == written.SOPInstanceUID
    assert kos.ConceptNameCodeSequence[0].CodeValue == "131560"
    assert kos.StudyInstanceUID == STUDY_UID
