"""Where output goes: files now; FHIR servers build on the same StudyOutput."""
