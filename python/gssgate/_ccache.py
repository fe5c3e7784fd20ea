"""Per-thread default credential caches (MIT krb5), without touching KRB5CCNAME.

MIT's `gss_krb5_ccache_name()` sets the GSS-API default ccache of the *calling thread* only
(thread-specific data inside libgssapi_krb5). libpq — and so psycopg2 — calls
`gss_init_sec_context` with the default credential in the thread that connects, so a thread
that installs a user's ccache connects as that user while other threads are unaffected.
Process-wide `KRB5CCNAME` mixes users under concurrency (FIELD-NOTES.md: 7 of 30 logins used
another user's ticket; the per-thread name: 0 of 60).

The ccache bytes are kept in a memfd (anonymous memory, never on a disk) that krb5 opens as
`FILE:/proc/self/fd/N`; it is overwritten with zeros and closed when the scope ends. Where
memfd_create is unavailable a 0600 file in a fresh 0700 directory is used instead, overwritten
and removed at the end. Plain krb5 API users (`krb5_cc_default`) are not covered: MIT applies
the per-thread name to GSS-API only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import tempfile
import threading

from .errors import CredentialError

_CCACHE_V4 = b"\x05\x04"


class _Libs:
    """libgssapi_krb5 / libkrb5 through ctypes: the same libraries libpq is linked against, so
    the thread-specific default is the one libpq reads."""

    _lock = threading.Lock()
    _loaded: "_Libs | None" = None

    def __init__(self) -> None:
        gss = ctypes.CDLL(ctypes.util.find_library("gssapi_krb5") or "libgssapi_krb5.so.2")
        krb5 = ctypes.CDLL(ctypes.util.find_library("krb5") or "libkrb5.so.3")
        self.ccache_name = gss.gss_krb5_ccache_name
        self.ccache_name.argtypes = [ctypes.POINTER(ctypes.c_uint32), ctypes.c_char_p,
                                     ctypes.POINTER(ctypes.c_char_p)]
        self.ccache_name.restype = ctypes.c_uint32
        self.init_context = krb5.krb5_init_context
        self.init_context.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
        self.init_context.restype = ctypes.c_int32
        self.free_context = krb5.krb5_free_context
        self.free_context.argtypes = [ctypes.c_void_p]
        self.free_context.restype = None
        self.default_name = krb5.krb5_cc_default_name
        self.default_name.argtypes = [ctypes.c_void_p]
        self.default_name.restype = ctypes.c_char_p

    @classmethod
    def get(cls) -> "_Libs":
        with cls._lock:
            if cls._loaded is None:
                try:
                    cls._loaded = cls()
                except (OSError, AttributeError) as e:
                    raise CredentialError(f"MIT krb5 GSS-API library not usable: {e}") from None
            return cls._loaded

    def library_default(self) -> bytes | None:
        """The default ccache name a thread without its own name follows (KRB5CCNAME now)."""
        ctx = ctypes.c_void_p()
        if self.init_context(ctypes.byref(ctx)) != 0:
            return None
        try:
            return self.default_name(ctx)  # c_char_p: copied into a bytes object
        finally:
            self.free_context(ctx)

    def set_thread_default(self, name: bytes | None) -> bytes | None:
        """Sets this thread's default; returns the previous one (copied: MIT's string is only
        valid until the next call in this thread)."""
        minor = ctypes.c_uint32(0)
        previous = ctypes.c_char_p()
        major = self.ccache_name(ctypes.byref(minor), name, ctypes.byref(previous))
        if major != 0:
            raise CredentialError(f"gss_krb5_ccache_name failed (major 0x{major:08x}, minor "
                                  f"{minor.value})")
        return previous.value


def thread_default_ccache() -> str:
    """This thread's current GSS-API default ccache name (for tests and diagnostics)."""
    libs = _Libs.get()
    prev = libs.set_thread_default(None)
    # Reading it means setting it: put the same value back (None if it was the library default).
    if prev is not None and prev != libs.library_default():
        libs.set_thread_default(prev)
    return (prev or b"").decode(errors="replace")


def check_ccache_bytes(data: bytes | bytearray) -> None:
    if len(data) < 4 or bytes(data[:2]) != _CCACHE_V4:
        raise CredentialError("the broker returned something that is not an MIT ccache (v4)")


def _write_all(fd: int, data) -> None:
    view = memoryview(data)
    offset = 0
    while offset < len(view):
        offset += os.pwrite(fd, view[offset:], offset)


class _Holder:
    """The ccache bytes in memory (memfd) or in a private file; wiped by close()."""

    def __init__(self, data: bytearray, prefer_memory: bool = True):
        self.size = len(data)
        self.fd = -1
        self.dir = None
        self.path = None
        if prefer_memory and hasattr(os, "memfd_create"):
            try:
                self.fd = os.memfd_create("gssgate-ccache", os.MFD_CLOEXEC)
            except OSError:
                self.fd = -1
        try:
            if self.fd >= 0:
                _write_all(self.fd, data)
                self.name = f"FILE:/proc/self/fd/{self.fd}"
            else:
                self.dir = tempfile.mkdtemp(prefix="gssgate-")  # 0700
                self.path = os.path.join(self.dir, "ccache")
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                                  | os.O_CLOEXEC, 0o600)
                _write_all(self.fd, data)
                self.name = f"FILE:{self.path}"
        except OSError as e:
            self.close()
            raise CredentialError(f"cannot hold the ccache: {e.strerror or e}") from None

    def wipe(self) -> None:
        """Zeroes and empties the bytes but keeps the fd (so its number cannot be reused)."""
        if self.fd >= 0:
            try:
                _write_all(self.fd, bytes(max(self.size, os.fstat(self.fd).st_size)))
                os.ftruncate(self.fd, 0)
            except OSError:
                pass

    def close(self) -> None:
        if self.fd >= 0:
            try:
                # krb5 may have appended (e.g. config entries): zero what is there now.
                size = max(self.size, os.fstat(self.fd).st_size)
                _write_all(self.fd, bytes(size))
            except OSError:
                pass
            os.close(self.fd)
            self.fd = -1
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


class ThreadCcacheScope:
    """Makes a ccache the calling thread's GSS-API default until exit(); see the module doc.

    Not reentrant and bound to its thread: exit() must run on the thread that entered."""

    def __init__(self, ccache: bytearray, prefer_memory: bool = True):
        check_ccache_bytes(ccache)
        self._libs = _Libs.get()
        self._holder = _Holder(ccache, prefer_memory)
        self._thread = threading.get_ident()
        self._previous: bytes | None = None
        try:
            prev = self._libs.set_thread_default(self._holder.name.encode())
        except BaseException:
            self._holder.close()
            raise
        # A thread with no name of its own follows the library default (KRB5CCNAME), which MIT
        # reports as the previous name: restoring "no name" keeps following it.
        if prev is not None and prev != self._libs.library_default():
            self._previous = prev
        self._active = True

    @property
    def name(self) -> str:
        return self._holder.name

    @property
    def in_memory(self) -> bool:
        return self._holder.dir is None

    def exit(self) -> None:
        if not self._active:
            return
        self._active = False
        if threading.get_ident() != self._thread:
            # The owning thread still names this cache. Empty it, but keep the fd open: were
            # its number reused for another user's cache, that thread would silently use it.
            self._holder.wipe()
            raise CredentialError("a gssgate credential scope must end on the thread that "
                                  "started it (the default ccache is per thread)")
        try:
            self._libs.set_thread_default(self._previous)
        finally:
            self._holder.close()
