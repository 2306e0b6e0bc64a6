"""The forest walked 64 rows at a time in native AVX-512 code: a few milliseconds for 5,000 rows x 500 trees.

The walk in :mod:`serving.inference.forest_walk` follows each row down each tree, a dependent load per level. Here a
tree is walked over a block of 64 rows at once (``blockwalk.c``): every node keeps the set of the block's rows that
reach it as one 64-bit word, and one AVX-512 byte compare of the 64 rows' bin codes with the node's bin splits that
set in two. A row's leaf index is the sum, over the nodes where it went right, of the number of leaves left of that
turn (leaves numbered left to right), added as bytes under the mask of the rows going right; its leaf value is
gathered from the tree's leaves and added to its sum in tree order, as LightGBM adds them: the same float.

Binning is :mod:`serving.inference.forest`'s, in bytes: with LightGBM's default 255 bins a feature has at most 254
thresholds, so a bin fits a byte and 255 says missing. Categorical splits gather the bitset word of each row's
category (uint16). A model that does not fit (more than 254 thresholds on a feature, more than 256 leaves in a
tree) raises :class:`~serving.inference.forest.Unsupported`; a machine without AVX-512 or a C compiler raises
:class:`Unavailable`. Either way the model runtime takes the next runtime.

The C source is compiled once per machine into the model cache (``cc``, about a second) and loaded with ctypes,
which releases the GIL during the call: two threads share the blocks (:func:`serving.inference.model_runtime.shared`).
"""

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from serving.inference.forest import Forest, Unsupported

SOURCE = Path(__file__).with_suffix(".c")
FLAGS = ("-O3", "-mavx512f", "-mavx512bw", "-mavx512vl", "-shared", "-fPIC")
NODE = np.dtype([("col", "<u2"), ("bin", "u1"), ("w", "u1"), ("next", "u1"), ("rc", "u1"), ("cat", "<u2")])
NUMERICAL = 65535  # a node's ``cat`` when it splits a number
BLOCK = 64


class Unavailable(RuntimeError):
    """This machine cannot run the native walk (no AVX-512, no C compiler, or the compile failed)."""


class _Model(ctypes.Structure):
    _fields_ = [
        ("n_trees", ctypes.c_int64),
        *(
            (k, ctypes.c_void_p)
            for k in ("node_off", "leaf_off", "nodes", "leaves", "leaves64", "cat_off", "cat_words", "bits")
        ),
        ("n_num", ctypes.c_int64),
        ("n_cat", ctypes.c_int64),
        *((k, ctypes.c_void_p) for k in ("num_col", "num_missing", "cat_col", "flat", "flat_off")),
    ]


def cpu_supports() -> bool:
    """AVX-512 F and BW, as the kernel is compiled for (Linux's /proc/cpuinfo)."""
    try:
        flags = next(
            (line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
             if line.startswith("flags")), [],
        )  # fmt: skip
    except OSError:
        return False
    return {"avx512f", "avx512bw"} <= set(flags)


_LIB: ctypes.CDLL | None = None


def library(cache: Path) -> ctypes.CDLL:
    """The compiled walk, built into ``cache`` the first time (keyed by the source and flags)."""
    global _LIB
    if _LIB is not None:
        return _LIB
    if not cpu_supports():
        raise Unavailable("this CPU has no AVX-512 (F and BW)")
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        raise Unavailable("no C compiler (cc) to build the native walk")
    source = SOURCE.read_bytes()
    so = Path(cache) / f"blockwalk-{hashlib.sha256(source + ' '.join(FLAGS).encode()).hexdigest()[:16]}.so"
    if not so.exists():
        so.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=so.parent)
        os.close(fd)
        done = subprocess.run([cc, *FLAGS, "-o", tmp, str(SOURCE)], capture_output=True, text=True)
        if done.returncode != 0:
            os.unlink(tmp)
            raise Unavailable(f"compiling {SOURCE.name} failed: {done.stderr.strip()[-500:]}")
        os.replace(tmp, so)  # atomic: another process compiling at once finds a whole library
    lib = ctypes.CDLL(str(so))
    lib.walk.restype = None
    lib.walk.argtypes = [ctypes.POINTER(_Model), ctypes.c_void_p, *[ctypes.c_int64] * 4, ctypes.c_void_p]
    _LIB = lib
    return lib


class BlockForest:
    """A :class:`Forest` laid out for the block walk; :meth:`raw` scores rows (releasing the GIL)."""

    def __init__(self, f: Forest, cache: Path):
        num = [j for j in range(f.n_features) if f.kind[j] == 1]
        cat = [j for j in range(f.n_features) if f.kind[j] == 2]
        wide = [j for j in num if len(f.bounds[j]) > 254]
        if wide:
            raise Unsupported(f"features {wide} have more than 254 thresholds: their bins do not fit a byte")
        self._lib = library(cache)
        slot = {j: i for i, j in enumerate(num)} | {j: i for i, j in enumerate(cat)}
        nodes: list[tuple] = []
        leaves: list[float] = []
        node_off, leaf_off, cat_off, cat_words = [0], [0], [], []
        for root in f.roots:
            tree: list[tuple] = []
            if root < 0:
                leaves.append(float(f.leaf_value[~root]))
            else:
                self._visit(f, int(root), tree, leaves, slot, len(num), cat_off, cat_words)
            if len(tree) > 255:
                raise Unsupported("a tree with more than 256 leaves")
            nodes += tree
            node_off.append(len(nodes))
            leaf_off.append(len(leaves))
        if len(cat_off) >= NUMERICAL:
            raise Unsupported("more than 65,534 categorical splits")
        sizes = [1 << int(np.ceil(np.log2(len(f.bounds[j]) + 1))) for j in num]
        self._keep = {
            "node_off": np.array(node_off, np.int32),
            "leaf_off": np.array(leaf_off, np.int32),
            "nodes": np.array(nodes, NODE) if nodes else np.zeros(1, NODE),
            "leaves": np.array(leaves, np.float64),
            "cat_off": np.array(cat_off or [0], np.int32),
            "cat_words": np.array(cat_words or [0], np.int32),
            "bits": f.bits if len(f.bits) else np.zeros(1, np.uint32),
            "num_col": np.array(num or [0], np.int32),
            "num_missing": np.array([f.missing[j] for j in num] or [0], np.int32),
            "cat_col": np.array(cat or [0], np.int32),
            "flat": np.concatenate(
                [np.r_[f.bounds[j], np.full(n - len(f.bounds[j]), np.inf)] for j, n in zip(num, sizes, strict=True)]
                or [np.zeros(1)]
            ),
            "flat_off": np.r_[0, np.cumsum(sizes)].astype(np.int64),
        }
        self._keep["bits"] = np.ascontiguousarray(self._keep["bits"], np.uint32)
        self._keep["leaves64"] = _padded(self._keep["leaves"], self._keep["leaf_off"])
        self._model = _Model(
            f.trees, *(self._keep[k].ctypes.data for k in ("node_off", "leaf_off", "nodes", "leaves")),
            self._keep["leaves64"].ctypes.data if self._keep["leaves64"] is not None else None,
            *(self._keep[k].ctypes.data for k in ("cat_off", "cat_words", "bits")),
            len(num), len(cat), *(self._keep[k].ctypes.data for k in ("num_col", "num_missing", "cat_col", "flat",
                                                                     "flat_off")),
        )  # fmt: skip
        self.n_features = f.n_features

    @staticmethod
    def _visit(
        f: Forest, n: int, tree: list, leaves: list, slot: dict, n_num: int, cat_off: list, cat_words: list
    ) -> int:
        """Lay out the subtree at node ``n`` in pre-order, its leaves left to right; returns its leaf count."""
        at = len(tree)
        tree.append(None)
        counts, children = [], []
        for c in (int(f.left[n]), int(f.right[n])):
            if c < 0:
                leaves.append(float(f.leaf_value[~c]))
                counts.append(1)
                children.append(255)  # the walk writes a leaf child's rows to a slot no node reads
            else:
                children.append(len(tree))
                counts.append(BlockForest._visit(f, c, tree, leaves, slot, n_num, cat_off, cat_words))
        feat = int(f.feature[n])
        if f.words[n] > 0:
            col, bin_, ci = slot[feat], 0, len(cat_off)
            cat_off.append(int(f.threshold[n]))
            cat_words.append(int(f.words[n]))
        elif f.default_left[n] and f.missing[feat] != 0:  # missing goes left: the shifted column, bin + 1
            col, bin_, ci = n_num + slot[feat], int(f.threshold[n]) + 1, NUMERICAL
        else:
            col, bin_, ci = slot[feat], int(f.threshold[n]), NUMERICAL
        if max(children) > 255 or len(tree) > 255 or counts[0] > 255:
            raise Unsupported("a tree with more than 256 leaves")
        assert children[0] in (255, at + 1)  # pre-order: a left child that is a node comes next
        tree[at] = (col, bin_, counts[0], int(children[0] == at + 1), children[1], ci)
        return counts[0] + counts[1]

    def raw(self, X: np.ndarray, out: np.ndarray, lo: int = 0, hi: int | None = None) -> None:
        """Raw scores of rows ``[lo, hi)`` of ``X`` (C-ordered float64; ``lo`` a multiple of 64) into ``out``."""
        hi = len(X) if hi is None else hi
        assert X.dtype == np.float64 and X.flags.c_contiguous and X.shape[1] == self.n_features and lo % BLOCK == 0
        self._lib.walk(
            ctypes.byref(self._model), X.ctypes.data, hi, X.shape[1], lo // BLOCK, -(-hi // BLOCK), out.ctypes.data
        )


def _padded(leaves: np.ndarray, offsets: np.ndarray) -> np.ndarray | None:
    """Each tree's leaves in 64 slots (64-byte aligned, zero-padded), or None when a tree has more than 64."""
    counts = np.diff(offsets)
    if len(counts) == 0 or counts.max() > 64:
        return None
    raw = np.zeros(64 * len(counts) + 8)
    start = (-raw.ctypes.data % 64) // 8
    out = raw[start : start + 64 * len(counts)].reshape(len(counts), 64)
    for t, (a, n) in enumerate(zip(offsets[:-1], counts, strict=True)):
        out[t, :n] = leaves[a : a + n]
    return out
