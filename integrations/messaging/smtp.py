"""E-mail through any SMTP server, with the standard library's ``smtplib``.

Per-clinic settings, each falling back to the process settings (``smtp_*``): ``host``
(required), ``port`` (587), ``username`` / ``password`` (login only when a username is set),
``from`` (used when the message names no sender), ``starttls`` (true: refuse to send in clear
text when the server does not offer STARTTLS), ``timeout_seconds`` (30, settings only).

``smtplib`` blocks, so each delivery runs in a worker thread. The ``Message-ID`` is derived
from the idempotency key, so a duplicate that slips through can be recognised downstream.
Reply codes map to: 4xx and connection failures -> ``TransientError``; 5xx (and a refused
STARTTLS or login) -> ``PermanentError``; codes are ``smtp_<reply code>``.
"""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from integrations.errors import IntegrationError, PermanentError, TransientError
from integrations.messaging.protocol import OutgoingMessage, SendResult
from integrations.registry import AdapterContext

SYSTEM = "smtp"


def message_id(idempotency_key: str) -> str:
    """The ``Message-ID`` every attempt at one message carries."""
    return f"<{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}@receptionist>"


class SmtpSender:
    """Sends e-mail over SMTP (optionally STARTTLS and AUTH); see the module docstring."""

    def __init__(self, settings: dict[str, Any], context: AdapterContext) -> None:
        process = context.settings
        host = settings.get("host") or process.smtp_host
        if not host:
            raise PermanentError("smtp adapter needs a host", code="smtp_not_configured")
        self._host: str = host
        self._port = int(settings.get("port") or process.smtp_port)
        self._username: str | None = settings.get("username") or process.smtp_username
        self._password: str | None = settings.get("password") or process.smtp_password
        if self._username and not self._password:
            raise PermanentError("smtp adapter has a username but no password", code="smtp_auth")
        self._from: str | None = settings.get("from") or process.smtp_from
        starttls = settings.get("starttls")
        self._starttls = process.smtp_starttls if starttls is None else bool(starttls)
        self._timeout = float(settings.get("timeout_seconds", 30))

    async def send(self, message: OutgoingMessage) -> SendResult:
        if message.channel != "email":
            raise PermanentError(f"smtp cannot send channel {message.channel!r}", code="channel")
        sender = message.sender or self._from
        if not sender:
            raise PermanentError("smtp adapter has no sender address", code="smtp_no_sender")
        email = self._compose(message, sender)
        await asyncio.to_thread(self._deliver, email)
        return SendResult(provider_message_id=str(email["Message-ID"]))

    @staticmethod
    def _compose(message: OutgoingMessage, sender: str) -> EmailMessage:
        email = EmailMessage()
        try:
            email["From"] = sender
            email["To"] = message.recipient
            if message.subject:
                email["Subject"] = message.subject
        except ValueError:  # a header with a line break: refused, and never echoed
            raise PermanentError("smtp message has an invalid header", code="smtp_header") from None
        email["Date"] = formatdate(usegmt=True)
        email["Message-ID"] = message_id(message.idempotency_key)
        email.set_content(message.body)
        return email

    def _deliver(self, email: EmailMessage) -> None:
        # Raised ``from None``: smtplib's exceptions carry the server's reply text and the
        # refused addresses, which must not reach logs or workflow history.
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                smtp.ehlo()
                if self._starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if self._username and self._password:
                    smtp.login(self._username, self._password)
                smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise _by_code(max(codes, default=550)) from None
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code) from None
        except smtplib.SMTPNotSupportedError:
            raise PermanentError(
                f"{SYSTEM} server does not support a required extension (STARTTLS or AUTH)",
                code="smtp_not_supported",
            ) from None
        except smtplib.SMTPServerDisconnected:
            raise TransientError(f"{SYSTEM} server disconnected", code="connection") from None
        except ssl.SSLCertVerificationError:
            raise PermanentError(
                f"{SYSTEM} server certificate failed verification", code="smtp_tls"
            ) from None
        except smtplib.SMTPException as exc:  # before OSError, its base class
            raise PermanentError(
                f"{SYSTEM} protocol error: {type(exc).__name__}", code="smtp_protocol"
            ) from None
        except OSError as exc:  # refused, unreachable, timed out, TLS handshake failures
            raise TransientError(
                f"{SYSTEM} connection error: {type(exc).__name__}", code="connection"
            ) from None


def _by_code(code: int) -> IntegrationError:
    message = f"{SYSTEM} server answered {code}"
    if 500 <= code < 600:
        return PermanentError(message, code=f"smtp_{code}")
    return TransientError(message, code=f"smtp_{code}")
