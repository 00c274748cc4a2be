"""Domain model -> FHIR R5 resources (fhir.resources), one module per resource."""
