"""Keep numba's on-disk cache of this package consistent with its sources.

numba invalidates a cached function only when the function's own file changes. Here the functions call one
another across files (``fold_day`` links ``lanes``, which inlines the kernels), so editing ``kernels.py`` alone
would leave a stale ``fold_day`` on disk: offline rows computed by old code, online rows by new code. This guard
hashes every source file of the package and empties the package's numba cache when the hash changes. It runs
when :mod:`features.fused` is imported, before anything is compiled or loaded.
"""

import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
STAMP = "sources.sha256"


def sources_hash(package: Path = PACKAGE) -> str:
    h = hashlib.sha256()
    for f in sorted(package.glob("*.py")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def invalidate_stale_cache(package: Path = PACKAGE) -> bool:
    """Delete the package's numba cache files if its sources changed since they were written; True if it did."""
    cache = package / "__pycache__"
    stamp = cache / STAMP
    digest = sources_hash(package)
    if stamp.exists() and stamp.read_text() == digest:
        return False
    try:
        cache.mkdir(exist_ok=True)
        for f in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
            f.unlink(missing_ok=True)
        stamp.write_text(digest)
    except OSError:  # a read-only install: numba caches elsewhere (NUMBA_CACHE_DIR) and files do not change there
        return False
    return True
