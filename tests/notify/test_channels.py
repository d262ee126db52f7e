"""Message formats of the robots, DingTalk's signature, masking and the labels."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import string
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from api.notify.channels import (
    Outcome,
    dingtalk_body,
    dingtalk_sign,
    dingtalk_url,
    host_refusal,
    send,
    wecom_body,
)
from api.notify.labels import LABELS
from api.notify.messages import Message
from api.notify.settings import NotifySettings
from api.notify.vault import SecretUnreadable, Vault, mask_url, scrub

MSG = Message("【告警】JJQ r1 满溢", "r1 b-wet：满溢", ("13800001111", "13900002222"))


def test_wecom_text_mentions_by_phone_and_markdown_names_them() -> None:
    body = wecom_body(MSG)
    assert body["msgtype"] == "text"
    assert body["text"]["mentioned_mobile_list"] == ["13800001111", "13900002222"]
    assert body["text"]["content"].startswith("【告警】")
    md = wecom_body(MSG, "markdown")
    assert md["msgtype"] == "markdown" and "13900002222" in md["markdown"]["content"]


def test_dingtalk_text_at_mobiles_and_content_names_them() -> None:
    body = dingtalk_body(MSG)
    assert body["msgtype"] == "text"
    assert body["at"]["atMobiles"] == ["13800001111", "13900002222"]
    assert "@13800001111" in body["text"]["content"]


def test_dingtalk_signature_as_documented() -> None:
    # Computed independently: base64(HMAC-SHA256(secret, "<ts>\n<secret>")), URL-encoded.
    secret, ts = "SEC0123456789abcdef", 1_700_000_000_000
    expected = base64.b64encode(
        hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    ).decode()
    url = dingtalk_url("https://oapi.dingtalk.com/robot/send?access_token=tok", secret, ts)
    query = parse_qs(urlsplit(url).query)
    assert query["timestamp"] == [str(ts)] and query["sign"] == [expected]
    assert query["access_token"] == ["tok"]
    assert "%" in dingtalk_sign(secret, ts) or "+" not in dingtalk_sign(secret, ts)
    assert dingtalk_url("https://x/robot?access_token=t", None) == "https://x/robot?access_token=t"


def test_masks_never_show_the_key() -> None:
    key = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5c3f"
    masked = mask_url(f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={key}")
    assert masked == "https://qyapi…key=****c3f"
    assert key not in masked and key[:-3] not in masked
    assert mask_url("https://hooks.example.com/services/T000/B000/XXXXsecretYYY") == (
        "https://hooks…****YYY"
    )
    text = scrub(f"ConnectError: cannot reach https://h/x?key={key}", [f"https://h/x?key={key}"])
    assert key not in text


def test_vault_round_trip_and_another_key_refuses() -> None:
    sealed = Vault("k" * 40).seal({"url": "https://x/?key=s3cret"})
    assert b"s3cret" not in sealed
    assert Vault("k" * 40).open(sealed) == {"url": "https://x/?key=s3cret"}
    with pytest.raises(SecretUnreadable):
        Vault("o" * 40).open(sealed)
    assert "k" * 10 not in repr(Vault("k" * 40))


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_labels_both_languages_same_keys_and_placeholders() -> None:
    zh, en = LABELS["zh-CN"], LABELS["en"]
    assert zh.keys() == en.keys()
    for key in zh:
        assert zh[key].strip() and en[key].strip(), key
        assert _fields(zh[key]) == _fields(en[key]), key
    assert re.search(r"[\u4e00-\u9fff]", zh["kind.overflow"])


@pytest.mark.parametrize(
    ("host", "allowed", "refused"),
    [
        ("127.0.0.1", "", True),
        ("localhost", "", True),
        ("10.1.2.3", "", True),
        ("169.254.169.254", "", True),  # a cloud's metadata address
        ("::1", "", True),
        ("127.0.0.1", "127.0.0.0/8", False),
        ("10.1.2.3", "10.0.0.0/8, 192.168.0.0/16", False),
        ("10.1.2.3", "192.168.0.0/16", True),
        ("1.1.1.1", "", False),  # public: a literal, so no DNS is asked
        ("no-such-host.invalid", "", True),
    ],
)
def test_channels_reach_only_public_hosts_unless_a_network_is_allowed(
    host: str, allowed: str, refused: bool
) -> None:
    networks = NotifySettings(notify_private_networks=allowed).private_networks()
    reason = asyncio.run(host_refusal(host, 443, networks))
    assert (reason is not None) == refused, reason
    if reason and "resolve" not in reason:
        assert "FENLEI_NOTIFY_PRIVATE_NETWORKS" in reason


def test_a_bad_network_setting_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match=re.escape("'10.0.0.300/8' is not a network")):
        NotifySettings(notify_private_networks="10.0.0.0/8,10.0.0.300/8")


def test_a_private_webhook_is_refused_before_any_request_and_not_retried() -> None:
    async def go() -> Outcome:
        async with httpx.AsyncClient() as http:
            return await send("webhook", {}, {"url": "http://127.0.0.1:9/h"}, MSG, http, 1.0)

    outcome = asyncio.run(go())
    assert not outcome.ok and outcome.final and "127.0.0.1" in outcome.detail
