"""The keyed hashes of the protocol: request and answer signatures, badge hashes. Plain values in, hex out."""
import hashlib
import hmac


def _hmac_hex(key, message):
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def request_signature(secret, method, path, timestamp, nonce, body):
    """What a board puts in X-Signature: METHOD, PATH, X-Time, X-Nonce and the raw body, joined by newlines."""
    return _hmac_hex(secret, ("%s\n%s\n%s\n%s\n" % (method, path, timestamp, nonce)).encode() + body)


def answer_signature(secret, nonce, status, body):
    """What the server puts in X-Signature of its answer: the request's nonce, the status code and the raw body."""
    return _hmac_hex(secret, ("%s\n%d\n" % (nonce, status)).encode() + body)


def same(a, b):
    """Constant-time comparison of two signatures or tokens."""
    return hmac.compare_digest(a.encode(), b.encode())


def badge_hash(site_secret, uid_hex):
    """The only form in which the server knows a badge: HMAC-SHA256 of the UID's bytes, keyed by the site secret."""
    return hmac.new(site_secret.encode(), bytes.fromhex(uid_hex), hashlib.sha256).hexdigest()
