# Loaded by the fuzzing server only (scripts/tests.d/70-autobahn.sh starts wstest with
# PYTHONPATH=tests/autobahn/pyshim): makes hashlib.sha1 use OpenSSL.
#
# Why: pyenv's Python 2.7.18 is built here without OpenSSL (OpenSSL 3 is too new for it), so
# hashlib.sha1 is the fallback _sha module, ~85 MB/s. The compression cases 12.*/13.* hash every
# message the server sends and every echo it receives (1000 messages of up to 128 KiB per case):
# a third of the server's CPU time went into _sha. The `cryptography` package the suite already
# depends on (3.3.2, its wheel ships OpenSSL 1.1.1) computes the same digest ~10x faster.
# Nothing else changes: same digests, same API (new/update/digest/hexdigest/copy); if the
# package is missing or a digest differs from _sha's on a check vector, hashlib is left alone.
import binascii
import hashlib
import warnings


def _install():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CryptographyDeprecationWarning: Python 2
        from cryptography.hazmat.backends import default_backend
        from cryptography.hazmat.primitives import hashes
    backend = default_backend()
    slow = hashlib.sha1

    def as_bytes(data):
        if isinstance(data, unicode):  # noqa: F821 (Python 2): as _sha does, ASCII
            return data.encode("ascii")
        if isinstance(data, memoryview):
            return data.tobytes()
        return bytes(data)

    class Sha1(object):
        name = "sha1"
        digest_size = 20
        block_size = 64

        def __init__(self, data=b"", _state=None):
            self._h = _state if _state is not None else hashes.Hash(hashes.SHA1(), backend)
            if data:
                self._h.update(as_bytes(data))

        def update(self, data):
            self._h.update(as_bytes(data))

        def digest(self):
            return self._h.copy().finalize()

        def hexdigest(self):
            return binascii.hexlify(self.digest())

        def copy(self):
            return Sha1(_state=self._h.copy())

    vector = b"".join(chr(i % 256) for i in range(100003))
    fast = Sha1(vector[:7])
    fast.update(vector[7:])
    if fast.digest() != slow(vector).digest() or Sha1().hexdigest() != slow().hexdigest():
        return
    hashlib.sha1 = Sha1


try:
    _install()
except ImportError:
    pass
