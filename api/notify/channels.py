"""The four kinds of channel, each in its own message format, and one `send` for all.

- `webhook`: a generic JSON POST ({"title", "text", "mentions", "step", "alarm"}).
- `wecom`: 企业微信 group robot, `{"msgtype": "text", "text": {"content", "mentioned_mobile_list"}}`
  or markdown (which cannot mention by phone: the phones are then in the text).
- `dingtalk`: 钉钉 group robot, `{"msgtype": "text", "text": {"content"}, "at": {"atMobiles"}}`,
  the content naming each @phone (how DingTalk places the mention). With a signing
  secret (加签) the URL gets `timestamp` (ms) and `sign` = urlencode(base64(HMAC-SHA256(
  secret, f"{timestamp}\\n{secret}"))).
- `email`: SMTP, optionally STARTTLS or TLS from the start, optionally a login.

Both robots answer HTTP 200 with `{"errcode": n, "errmsg": ...}`: errcode 0 only is
success. No outcome ever carries a secret: errors are scrubbed of the URL and secrets.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import smtplib
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from ipaddress import ip_address
from typing import Any
from urllib.parse import quote_plus, urlsplit

import httpx

from api.notify.messages import Message
from api.notify.settings import IPNetwork
from api.notify.vault import scrub

KINDS = ("webhook", "wecom", "dingtalk", "email")

# httpx logs each request's full URL at INFO (httpcore its host at DEBUG), and a
# robot's URL is its key: those loggers stay at WARNING wherever a channel sends from.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)
# WeCom's text content is at most 2,048 bytes; DingTalk's is larger, the same cut serves.
MAX_CONTENT_BYTES = 2000
MAX_DETAIL = 300


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt's result: delivered or not, and a short reason (no secret)."""

    ok: bool
    detail: str
    # Not worth retrying: the same attempt would be refused the same way.
    final: bool = False


async def host_refusal(host: str, port: int, allowed: Sequence[IPNetwork]) -> str | None:
    """Why `host` may not be sent to, or None: every address it resolves to must be
    global, or inside one of the `allowed` networks. (The check runs before each send;
    the connection resolves the name again, so a name whose answer changes in between
    could slip through once: a guard against a mistyped or hostile channel, not a
    firewall.)"""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"{host} does not resolve ({type(exc).__name__})"
    for info in infos:
        address = ip_address(str(info[4][0]).split("%")[0])
        if address.is_global or any(address in net for net in allowed):
            continue
        return (
            f"{host} is {address}, not a public address: channels reach only public"
            " addresses unless FENLEI_NOTIFY_PRIVATE_NETWORKS allows the network"
        )
    return None


def _cut(text: str, limit: int = MAX_CONTENT_BYTES) -> str:
    raw = text.encode()
    return text if len(raw) <= limit else raw[:limit].decode(errors="ignore") + "…"


def webhook_body(msg: Message) -> dict[str, Any]:
    """The generic webhook's JSON."""
    return {"title": msg.title, "text": msg.text, "mentions": list(msg.mentions), **msg.data}


def wecom_body(msg: Message, fmt: str = "text") -> dict[str, Any]:
    """企业微信 group robot's JSON."""
    if fmt == "markdown":
        phones = " ".join(msg.mentions)
        content = f"**{msg.title}**\n{msg.text}" + (f"\n{phones}" if phones else "")
        return {"msgtype": "markdown", "markdown": {"content": _cut(content)}}
    return {
        "msgtype": "text",
        "text": {
            "content": _cut(f"{msg.title}\n{msg.text}"),
            "mentioned_mobile_list": list(msg.mentions),
        },
    }


def dingtalk_body(msg: Message) -> dict[str, Any]:
    """钉钉 group robot's JSON: the @phones are in the content too (DingTalk shows the
    mention where the content names it)."""
    ats = " ".join(f"@{p}" for p in msg.mentions)
    content = f"{msg.title}\n{msg.text}" + (f"\n{ats}" if ats else "")
    return {
        "msgtype": "text",
        "text": {"content": _cut(content)},
        "at": {"atMobiles": list(msg.mentions), "isAtAll": False},
    }


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's `sign` parameter (加签), URL-encoded."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest))


def dingtalk_url(url: str, secret: str | None, timestamp_ms: int | None = None) -> str:
    """The robot URL, signed when the robot has a signing secret."""
    if not secret:
        return url
    ts = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}timestamp={ts}&sign={dingtalk_sign(secret, ts)}"


def _robot_answer(response: httpx.Response) -> Outcome:
    try:
        doc = response.json()
    except ValueError:
        return Outcome(False, f"HTTP {response.status_code}, not JSON")
    code = doc.get("errcode") if isinstance(doc, dict) else None
    if code == 0:
        return Outcome(True, f"HTTP {response.status_code}, errcode 0")
    errmsg = str(doc.get("errmsg", ""))[:120] if isinstance(doc, dict) else ""
    return Outcome(False, f"HTTP {response.status_code}, errcode {code}: {errmsg}")


async def _post(
    http: httpx.AsyncClient, url: str, body: dict[str, Any], robot: bool, secrets: list[str]
) -> Outcome:
    try:
        response = await http.post(url, json=body)
    except httpx.HTTPError as exc:
        # httpx puts the URL in some messages: scrub it (and every secret) out.
        return Outcome(False, scrub(f"{type(exc).__name__}: {exc}", secrets)[:MAX_DETAIL])
    if response.status_code >= 300:
        return Outcome(False, f"HTTP {response.status_code}")
    if robot:
        return _robot_answer(response)
    return Outcome(True, f"HTTP {response.status_code}")


def _send_mail(
    config: Mapping[str, Any], password: str | None, msg: Message, timeout: float
) -> None:
    mail = EmailMessage()
    mail["Subject"] = msg.title
    mail["From"] = str(config["sender"])
    recipients = list(dict.fromkeys([*config.get("to", []), *msg.emails]))
    mail["To"] = ", ".join(recipients)
    mail.set_content(msg.text)
    host, port = str(config["host"]), int(config.get("port", 25))
    security = str(config.get("security", "none"))
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if security == "tls":
        smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    with smtp:
        if security == "starttls":
            smtp.starttls(context=context)
        if config.get("username"):
            smtp.login(str(config["username"]), password or "")
        smtp.send_message(mail, to_addrs=recipients)


async def send(
    kind: str,
    config: Mapping[str, Any],
    secret: Mapping[str, str],
    msg: Message,
    http: httpx.AsyncClient,
    timeout: float,
    allowed: Sequence[IPNetwork] = (),
) -> Outcome:
    """Send `msg` over one channel; never raises for a delivery failure. A host that
    is not public is refused (final) unless it is in one of the `allowed` networks."""
    secrets = [v for v in secret.values() if v]
    if kind == "email":
        refused = await host_refusal(str(config["host"]), int(config.get("port", 25)), allowed)
        if refused:
            return Outcome(False, refused, final=True)
        try:
            await asyncio.wait_for(
                asyncio.to_thread(_send_mail, config, secret.get("password"), msg, timeout),
                timeout * 3,
            )
        except (OSError, smtplib.SMTPException, TimeoutError) as exc:
            return Outcome(False, scrub(f"{type(exc).__name__}: {exc}", secrets)[:MAX_DETAIL])
        return Outcome(True, "SMTP accepted")
    url = secret.get("url")
    if not url:
        return Outcome(False, "the channel has no URL: delete it and create it again")
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return Outcome(False, "the channel's URL cannot be read: create it again", final=True)
    refused = await host_refusal(host, port, allowed)
    if refused:
        return Outcome(False, refused, final=True)
    if kind == "wecom":
        return await _post(
            http, url, wecom_body(msg, str(config.get("format", "text"))), True, secrets
        )
    if kind == "dingtalk":
        signed = dingtalk_url(url, secret.get("sign_secret"))
        return await _post(http, signed, dingtalk_body(msg), True, [signed, *secrets])
    return await _post(http, url, webhook_body(msg), False, secrets)
