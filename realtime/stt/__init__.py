"""Speech recognition engines behind ``protocol.SpeechToText``."""
