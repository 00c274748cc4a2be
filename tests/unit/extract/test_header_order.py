"""Order, performed procedure step, people and device identity read from image and SR headers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from bridge.extract.header import extract_header
from bridge.extract.read import read_header
from bridge.extract.study import extract_study
from bridge.extract.values import PRIVATE_SCHEME_BASE
from bridge.model import Code, DicomDateTime, ObjectKind, PerformedProcedure, PersonName
from tests.factories import ct_dataset, write_dataset

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _request(**attrs: object) -> Dataset:
    item = Dataset()
    item.AccessionNumber = "A-001"
    item.RequestedProcedureID = "RP-7"
    item.RequestedProcedureDescription = "CT chest with contrast"
    item.RequestedProcedureCodeSequence = Sequence([_code("24627-2", "LN", "CT Chest")])
    item.ReasonForTheRequestedProcedure = "Persistent cough"
    item.ReasonForRequestedProcedureCodeSequence = Sequence([_code("49727002", "SCT", "Cough")])
    for keyword, value in attrs.items():
        setattr(item, keyword, value)
    return item


def _issuer() -> Sequence:
    item = Dataset()
    item.UniversalEntityID, item.UniversalEntityIDType = "1.2.3.4.5", "ISO"
    return Sequence([item])


def test_request_attributes_give_the_order() -> None:
    ds = ct_dataset(RequestAttributesSequence=Sequence([_request()]), IssuerOfAccessionNumberSequence=_issuer(),
                    RequestingPhysician="House^Gregory")
    order = extract_header(ds, "ct.dcm").order
    assert order is not None
    assert order.accession_number == "A-001"
    assert order.issuer is not None and order.issuer.universal_id == "1.2.3.4.5"
    assert order.requested_procedure_id == "RP-7"
    assert order.requested_procedure_description == "CT chest with contrast"
    assert order.requested_procedure_codes == (Code(LOINC, "24627-2", "CT Chest"),)
    assert order.reason_text == "Persistent cough"
    assert order.reason_codes == (Code(SNOMED, "49727002", "Cough"),)
    assert order.requesting_physician is not None
    assert (order.requesting_physician.family, order.requesting_physician.given) == ("House", ("Gregory",))


def test_sr_referenced_request_carries_the_requesting_physician() -> None:
    ds = ct_dataset(AccessionNumber=None,
                    ReferencedRequestSequence=Sequence([_request(AccessionNumber="A-9", RequestingPhysician="Who^Jo")]))
    order = extract_header(ds, "sr.dcm").order
    assert order is not None and order.accession_number == "A-9"
    assert order.requesting_physician == PersonName(family="Who", given=("Jo",), text="Jo Who")


def test_order_without_request_item_leaves_request_values_out() -> None:
    order = extract_header(ct_dataset(), "ct.dcm").order
    assert order is not None and order.accession_number == "A-001"
    assert order.requested_procedure_id is None
    assert order.requested_procedure_codes == ()
    assert order.reason_codes == () and order.reason_text is None
    assert order.requesting_physician is None


def test_performed_procedure_step_attributes() -> None:
    ds = ct_dataset(
        PerformedProcedureStepID="PPS-1",
        PerformedProcedureStepStartDate="20240102",
        PerformedProcedureStepStartTime="1005",
        TimezoneOffsetFromUTC="+0100",
        PerformedProcedureStepDescription="CT THORAX",
        PerformedProtocolCodeSequence=Sequence([_code("P-1", "99ACME", "Thorax routine")]),
        ProcedureCodeSequence=Sequence([_code("24627-2", "LN", "CT Chest")]),
        PerformingPhysicianName="Doc^Bob",
        OperatorsName=["Op^Anna", "Tech^Tom", "Op^Anna"],
    )
    performed = extract_header(ds, "ct.dcm").performed_procedure
    assert performed is not None
    assert performed.step_id == "PPS-1"
    assert performed.started == DicomDateTime("2024-01-02T10:05:00", "+01:00")
    assert performed.description == "CT THORAX"
    assert performed.protocol_codes == (Code(PRIVATE_SCHEME_BASE + "99ACME", "P-1", "Thorax routine"),)
    assert performed.procedure_codes == (Code(LOINC, "24627-2", "CT Chest"),)
    assert [n.family for n in performed.performing_physicians] == ["Doc"]
    assert [n.family for n in performed.operators] == ["Op", "Tech"]  # listed once each


def test_operators_read_from_a_file(tmp_path: Path) -> None:
    ds = ct_dataset(OperatorsName=["Op^Anna", "Tech^Tom"], PerformedProcedureStepID="PPS-2")
    header = read_header(write_dataset(ds, tmp_path / "ct.dcm"))
    assert header.performed_procedure is not None
    assert [n.text for n in header.performed_procedure.operators] == ["Anna Op", "Tom Tech"]
    assert header.performed_procedure.started is None


def test_no_performed_procedure_attributes_give_none() -> None:
    assert extract_header(ct_dataset(), "ct.dcm").performed_procedure is None


def test_sr_performed_procedure_code() -> None:
    ds = ct_dataset(PerformedProcedureCodeSequence=Sequence([_code("24627-2", "LN", "CT Chest")]))
    performed = extract_header(ds, "sr.dcm").performed_procedure
    assert performed == PerformedProcedure(procedure_codes=(Code(LOINC, "24627-2", "CT Chest"),))


def test_device_identity_from_general_equipment() -> None:
    udi = Dataset()
    udi.UniqueDeviceIdentifier = "(01)00884838002367(21)SN1"
    ds = ct_dataset(Manufacturer="ACME", DeviceUID="1.2.3.4.99", DeviceID="CT-ROOM-2", UDISequence=Sequence([udi]),
                    ManufacturerDeviceClassUID=["1.2.3.7", "1.2.3.8"], DeviceSerialNumber="SN1")
    equipment = extract_header(ds, "ct.dcm").equipment
    assert equipment.device_uid == "1.2.3.4.99"
    assert equipment.device_id == "CT-ROOM-2"
    assert equipment.unique_device_identifiers == ("(01)00884838002367(21)SN1",)
    assert equipment.manufacturer_device_class_uids == ("1.2.3.7", "1.2.3.8")
    assert equipment.device_serial_number == "SN1"


def test_equipment_without_device_identity_leaves_it_out() -> None:
    equipment = extract_header(ct_dataset(Manufacturer="ACME"), "ct.dcm").equipment
    assert equipment.device_uid is None and equipment.device_id is None
    assert equipment.unique_device_identifiers == () and equipment.manufacturer_device_class_uids == ()


def test_study_takes_the_performed_procedure_of_the_first_image() -> None:
    study_uid = "1.2.826.0.1.3680043.10.1495.77"
    sr = extract_header(ct_dataset(StudyInstanceUID=study_uid, SeriesNumber=1, PerformedProcedureStepID="SR-STEP"),
                        "sr.dcm")
    sr = replace(sr, instance=replace(sr.instance, kind=ObjectKind.SR_TEXT_REPORT))
    first = extract_header(ct_dataset(StudyInstanceUID=study_uid, SeriesNumber=2, PerformedProcedureStepID="PPS-A"),
                           "a.dcm")
    later = extract_header(ct_dataset(StudyInstanceUID=study_uid, SeriesNumber=3, PerformedProcedureStepID="PPS-B"),
                           "b.dcm")
    bare = extract_header(ct_dataset(StudyInstanceUID=study_uid, SeriesNumber=0), "c.dcm")
    study = extract_study([later, sr, bare, first])
    assert study.performed_procedure is not None and study.performed_procedure.step_id == "PPS-A"
    assert extract_study([sr]).performed_procedure is not None  # a report alone still tells its step
    assert extract_study([bare]).performed_procedure is None
