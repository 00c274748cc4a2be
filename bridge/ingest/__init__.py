"""Getting DICOM objects in: files and folders now; the listener and the folder watch build on it."""
