"""dicom-bridge: DICOM studies and reports in, HL7 Europe Imaging Report FHIR R5 out."""

import typing as _typing

from bridge.api import ConversionResult, Rejected, convert

if _typing.TYPE_CHECKING:
    from bridge.service.harness import Bridge

__version__ = "0.1.0"

__all__ = ["Bridge", "ConversionResult", "Rejected", "__version__", "convert"]


def __getattr__(name: str) -> _typing.Any:
    # The service side (pynetdicom, SQLAlchemy) is imported on first use, so `convert` starts fast.
    if name == "Bridge":
        from bridge.service.harness import Bridge

        return Bridge
    raise AttributeError(f"module 'bridge' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
