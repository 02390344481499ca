"""Speech synthesis engines behind ``protocol.TextToSpeech``."""
