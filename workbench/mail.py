"""Sending email through SMTP: one function, ``send_mail``.

Used by alert delivery (``workbench.channels``) and by ``workbench report --email``.
The password never lives in the config: ``EmailChannel.password_env`` names the
environment variable that holds it.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from workbench.config import EmailChannel
from workbench.errors import WorkbenchError

log = logging.getLogger(__name__)


class MailError(WorkbenchError):
    """An email could not be sent (server unreachable, login refused, recipient rejected).

    ``permanent`` is True when trying again cannot help until the settings change
    (login refused, recipients refused, no password); a server that is down is not.
    """

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


def build_message(
    channel: EmailChannel,
    subject: str,
    html: str,
    *,
    text: str | None = None,
    attachments: Sequence[tuple[str, bytes, str]] = (),
) -> EmailMessage:
    """The email as it will be sent: plain text and HTML alternatives, then the attachments."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = channel.sender
    msg["To"] = ", ".join(channel.to)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=channel.sender.rpartition("@")[2] or None)
    msg.set_content(text or "This message is HTML; open it in a mail client that shows HTML.")
    msg.add_alternative(html, subtype="html")
    for filename, data, mime in attachments:
        maintype, _, subtype = mime.partition("/")
        msg.add_attachment(
            data, maintype=maintype, subtype=subtype or "octet-stream", filename=filename
        )
    return msg


def send_mail(
    channel: EmailChannel,
    subject: str,
    html: str,
    *,
    text: str | None = None,
    attachments: Sequence[tuple[str, bytes, str]] = (),
    timeout: float = 10.0,
) -> None:
    """Send one email to ``channel.to`` through ``channel.host``.

    ``channel.security`` is ``starttls`` (port 587, upgrade after connecting),
    ``ssl`` (port 465, TLS from the start) or ``none`` (a local relay). When
    ``channel.username`` is set, it logs in with the password from the environment
    variable ``channel.password_env``. ``attachments`` are ``(filename, bytes, mime
    type)``, e.g. ``("snapshot.jpg", jpeg, "image/jpeg")``. Raises ``MailError``
    naming the server and what to check.
    """
    where = f"SMTP server {channel.host}:{channel.port} ({channel.security})"
    if not channel.to:
        raise MailError(f"{where}: no recipients; set alerts.email.to in the config", True)
    password = None
    if channel.username:
        password = os.environ.get(channel.password_env)
        if password is None:
            raise MailError(
                f"{where}: user {channel.username!r} needs a password; "
                f"set the environment variable {channel.password_env}",
                True,
            )
    msg = build_message(channel, subject, html, text=text, attachments=attachments)
    try:
        if channel.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                channel.host, channel.port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(channel.host, channel.port, timeout=timeout)
        with smtp:
            if channel.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if channel.username:
                smtp.login(channel.username, password or "")
            refused = smtp.send_message(msg)
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(
            f"{where}: login as {channel.username!r} refused ({exc.smtp_code}); "
            f"check the username and the password in {channel.password_env}",
            True,
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise MailError(
            f"{where}: {exc}; the server does not offer this; check alerts.email.security", True
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailError(
            f"{where}: every recipient refused ({', '.join(exc.recipients)}); check alerts.email.to",
            True,
        ) from None
    except smtplib.SMTPException as exc:
        raise MailError(
            f"{where}: {exc}; check the server's log and the alerts.email settings"
        ) from None
    except ssl.SSLError as exc:
        raise MailError(
            f"{where}: TLS failed ({exc.reason}); check alerts.email.security and port "
            "(starttls is usually 587, ssl 465)"
        ) from None
    except OSError as exc:
        raise MailError(
            f"{where}: cannot connect ({exc.strerror or exc}); check that the server runs "
            "and alerts.email.host/port"
        ) from None
    if refused:
        log.warning("%s: some recipients refused: %s", where, ", ".join(refused))
