"""Received manifests through the service and the converter: a MADO manifest sent with its study gives the
ImagingStudy its endpoints and its disagreements with the images show in the study's status; XDS-I.b manifests
are manifests, never key images. Real files from ../shared (skipped without them)."""

from __future__ import annotations

import json
from pathlib import Path

from bridge import Bridge, convert
from bridge.api import read_outcome
from bridge.model import InstanceHeader, KeyObjectClass
from tests.conftest import shared_path
from tests.manifest_support import CT_SERIES_UID, KIN_SERIES_UID, STUDY_B_UID, study_b_files

KEY_IMAGE_PROFILE = "ImagingSelectionKeyImageEuImaging"


def test_a_mado_manifest_sent_with_its_study_gives_endpoints_and_visible_mismatches(tmp_path: Path) -> None:
    files = list(study_b_files(with_manifest=True))
    with Bridge.running(tmp_path, quiet_period=0.5) as bridge:
        assert bridge.send(files) == [0] * len(files)
        bridge.wait_idle()
        store = bridge.service.store
        assert store is not None
        [record] = [s for s in store.studies() if s.study_instance_uid == STUDY_B_UID]
        folder = bridge.output_dir / STUDY_B_UID
        imaging_study = json.loads((folder / "ImagingStudy.json").read_text())
        index = json.loads((folder / "index.json").read_text())
    warnings = (record.warnings or "").splitlines()
    assert any("Series Date 20231018" in w and "20220822" in w for w in warnings), warnings
    assert any("Series Number 2" in w and "59" in w for w in warnings), warnings
    assert set(index["warnings"]) == set(warnings)
    series = {s["uid"]: s for s in imaging_study["series"]}
    endpoint_files = {p.name: json.loads(p.read_text()) for p in folder.glob("Endpoint-*.json")}
    by_ref = {f"Endpoint/{e['id']}": e for e in endpoint_files.values()}
    ct = by_ref[series[CT_SERIES_UID]["endpoint"][0]["reference"]]
    kin = by_ref[series[KIN_SERIES_UID]["endpoint"][0]["reference"]]
    assert ct["address"] == kin["address"] == "https://dicomserver.com/AET/rs/"
    assert ct["extension"][0]["valueString"] == "1.3.6.1.4.1.19376.1.1.202.1"
    assert kin["extension"][0]["valueString"] == "1.3.6.1.4.1.19376.1.1.202.2"
    viewer = [by_ref[r["reference"]] for r in imaging_study["endpoint"]
              if by_ref[r["reference"]]["connectionType"][0]["coding"][0]["code"] == "web-viewer"]
    assert [v["address"] for v in viewer] == [
        f"https://dicomviewer/IHEInvokeImageDisplay?requestType=STUDY&studyUID={STUDY_B_UID}"]
    # the bridge's own manifest lists the 21 shared instances, not the received manifest
    assert (folder / "manifest.dcm").exists()


def test_xds_i_manifests_are_manifests_not_key_images() -> None:
    folder = shared_path("dicom", "kos")
    files = sorted(p for p in folder.glob("*.dcm") if p.name != "GK17285-KOS.dcm")  # that one is an "automatic" KIN
    assert len(files) == 2
    for path in files:
        header = read_outcome(path)
        assert isinstance(header, InstanceHeader) and header.report is not None
        content = header.report.content
        assert content.key_object_class is KeyObjectClass.MANIFEST
        assert content.manifest is not None and content.manifest.mado is False and content.manifest.series
    result = convert(files)
    assert result.rejected == ()
    for study in result.studies:
        for output in study.reports:
            assert KEY_IMAGE_PROFILE not in json.dumps(output.bundle.model_dump(mode="json", exclude_none=True))
