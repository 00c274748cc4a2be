"""The bridge's domain model: frozen dataclasses, standard library only."""

from bridge.model.common import Code, DicomDateTime, Finding, PersonName, Severity
from bridge.model.header import InstanceHeader, InstanceIdentity
from bridge.model.report import (
    CompletionFlag,
    EuSection,
    Observer,
    Report,
    ReportSection,
    SectionText,
    VerificationFlag,
)
from bridge.model.study import Equipment, Instance, Issuer, ObjectKind, Order, Patient, Series, Study

__all__ = [
    "Code",
    "CompletionFlag",
    "DicomDateTime",
    "Equipment",
    "EuSection",
    "Finding",
    "Instance",
    "InstanceHeader",
    "InstanceIdentity",
    "Issuer",
    "ObjectKind",
    "Observer",
    "Order",
    "Patient",
    "PersonName",
    "Report",
    "ReportSection",
    "SectionText",
    "Series",
    "Severity",
    "Study",
    "VerificationFlag",
]
