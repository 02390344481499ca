"""The synthetic patient every security proof looks for: Alex Rivera of the demo seed."""

from __future__ import annotations

FIRST, LAST = "Alex", "Rivera"
DATE_OF_BIRTH = "1985-03-14"
PHONE = "+12075550111"
MEMBER_ID = "DD100200301"

# Every spelling that would give the patient away.
ALEX_RIVERA = [LAST, f"{FIRST} {LAST}", DATE_OF_BIRTH, PHONE, PHONE[2:], "555-0111", MEMBER_ID]
