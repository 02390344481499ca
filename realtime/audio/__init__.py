"""Audio formats of the voice loop (8 kHz μ-law on the wire, PCM16 inside)."""
