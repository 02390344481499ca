"""Call summaries for the wrap-up: Claude's structured summary when a clinic chooses it, the
rule-based one otherwise and whenever Claude fails."""
