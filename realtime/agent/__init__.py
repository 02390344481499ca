"""Conversation agents: the offline RuleAgent and (when configured) Claude, behind one protocol."""
