"""HL7 v2 scheduling: outbound SIU over MLLP (``Hl7Ehr``) and the inbound SIU listener."""
