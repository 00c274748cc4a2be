"""dicom-bridge: DICOM studies and reports in, HL7 Europe Imaging Report FHIR R5 out."""

from bridge.api import ConversionResult, Rejected, convert

__version__ = "0.1.0"

__all__ = ["ConversionResult", "Rejected", "__version__", "convert"]
