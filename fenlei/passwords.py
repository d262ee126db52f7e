"""MQTT account passwords: generated here, stored only as PBKDF2-HMAC-SHA512 hashes.

One stored form serves both brokers fenlei supports: the lower-case hex of the
64-byte key with a 12-character ASCII salt is what EMQX's PostgreSQL authenticator
compares (`password_hash_algorithm {name = pbkdf2, mac_fun = sha512,
iterations = ITERATIONS, dk_length = 64}`), and the same key and salt bytes,
base64-encoded, are what Mosquitto's dynamic-security plugin loads.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# Passwords are 192 random bits, so the iteration count guards nothing a brute force
# could reach; it is paid by the broker on every CONNECT (0.6 ms each at 1,000, so a
# reconnect storm of 10k devices costs ~6 s of broker CPU; at 10,000 it would be ~1 min).
ITERATIONS = 1_000
# Mosquitto's dynamic-security plugin requires exactly 12 salt bytes and a 64-byte key
# (it silently drops a client whose fields have other lengths).
SALT_CHARS = 12
KEY_BYTES = 64
# token_urlsafe(24) is 32 characters of 192 random bits.
PASSWORD_BYTES = 24


def new_password() -> str:
    """A fresh random password, shown to its owner once and never stored."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


def new_salt() -> str:
    """12 URL-safe ASCII characters (9 random bytes, base64url)."""
    return secrets.token_urlsafe(9)


def hash_password(password: str, salt: str, iterations: int = ITERATIONS) -> str:
    """The lower-case hex PBKDF2-HMAC-SHA512 key of `password` with `salt`."""
    key = hashlib.pbkdf2_hmac(
        "sha512", password.encode(), salt.encode("ascii"), iterations, KEY_BYTES
    )
    return key.hex()


def verify_password(password: str, salt: str, iterations: int, password_hash: str) -> bool:
    """Does `password` match the stored hash (constant-time comparison)?"""
    return hmac.compare_digest(hash_password(password, salt, iterations), password_hash)


def dynsec_fields(password_hash: str, salt: str, iterations: int) -> dict[str, object]:
    """The `password`, `salt`, `iterations` of a dynamic-security client entry."""
    salt_bytes = salt.encode("ascii")
    key = bytes.fromhex(password_hash)
    if len(salt_bytes) != SALT_CHARS or len(key) != KEY_BYTES:
        raise ValueError("a dynamic-security hash needs a 12-byte salt and a 64-byte key")
    return {
        "password": base64.b64encode(key).decode(),
        "salt": base64.b64encode(salt_bytes).decode(),
        "iterations": iterations,
    }
