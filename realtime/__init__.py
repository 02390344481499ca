"""The voice loop: Twilio Media Streams in, speech and the agent, paced audio out."""
