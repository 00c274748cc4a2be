"""MADO manifests of the bridge's own: the plan (both forms), the DICOM KOS writer."""
