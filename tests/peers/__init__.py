"""Real peer systems started by the tests (FHIR server, MLLP peers)."""
