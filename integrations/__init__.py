"""Adapters to external systems (EHR, messaging, CRM, eligibility) behind small protocols."""
