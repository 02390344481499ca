"""Task queue names. Kept apart so in-call work is never stuck behind bulk campaign work."""

INTERACTIVE = "interactive"  # answers a caller is waiting for (booking acceptance)
SIDE_EFFECTS = "side-effects"  # EHR writes, messages, CRM, wrap-up
CAMPAIGNS = "campaigns"  # reminders and recall fan-out

ALL = (INTERACTIVE, SIDE_EFFECTS, CAMPAIGNS)
