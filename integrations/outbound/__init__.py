"""Outbound phone calls: a small dialer protocol, Twilio and embedded implementations."""
