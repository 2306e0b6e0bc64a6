"""The compiled walk of a :class:`serving.inference.forest.Forest` over uint16 codes.

Trees are walked one at a time over every row (tree-major: the tree's few KB stay in L1 while the rows stream),
``GROUP`` rows at once with no data-dependent branch on the numerical path, so the rows' independent paths overlap
in the core. Each row's leaves are added to its sum in tree order, as LightGBM adds them: the same float.

Two layouts. A forest whose trees are at most :data:`MAX_PERFECT` deep is laid out as perfect trees (node ``n``'s
children at ``2n+1`` and ``2n+2``; a leaf above the bottom is a run of always-left nodes over copies of its value),
so a step is one node word and one code. Deeper trees keep their own shape and a child table. The kernels are
generated for ``GROUP`` rows (one variable per row keeps them in registers) and released from the GIL, so two
threads split the rows.
"""

import numpy as np
from numba import njit

from serving.inference.forest import Forest

MISSING = 65535
GROUP = 8
MAX_PERFECT = 10
_CAT = 1 << 9


def _source(perfect: bool) -> str:
    """A kernel's source for GROUP rows: ``kern(codes, out, lo, hi, *tables)``."""
    if perfect:
        head = "def kern(codes, out, lo, hi, T, D, node, leaf, catoff, catw, bits):"
        tree = ["        I = (1 << D) - 1; nb = t * I; lb = t * (I + 1) - I"]
        start, steps, nxt, leaf = "0", "D", "2 * n{j} + 1 + rt", "leaf[lb + n{j}]"
    else:
        head = "def kern(codes, out, lo, hi, T, roots, depth, packed, nxt, catoff, catw, bits, leafidx, leaf):"
        tree = ["        nb = 0; root = roots[t]"]
        start, steps, nxt, leaf = "root", "depth[t]", "nxt[2 * n{j} + rt]", "leaf[leafidx[n{j}]]"
    word = "node[nb + n{j}]" if perfect else "packed[n{j}]"
    bit = "catoff[p >> 16]" if perfect else "catoff[n{j}]"
    cw = "catw[p >> 16]" if perfect else "catw[n{j}]"
    lines = [head, "    for r in range(lo, hi):", "        out[r] = 0.0", "    for t in range(T):", *tree]
    lines.append(f"        for g in range(lo, hi, {GROUP}):")
    lines.append(f"            m = min({GROUP}, hi - g)")
    for j in range(GROUP):
        lines.append(f"            n{j} = {start}; r{j} = codes[min(g + {j}, hi - 1)]")
    lines.append(f"            for _ in range({steps}):")
    for j in range(GROUP):
        lines += [
            f"                p = {word.format(j=j)}",
            f"                c = r{j}[p & 0xFF]",
            f"                if p & {_CAT}:",
            "                    i = c >> 5",
            f"                    rt = 0 if (i < {cw.format(j=j)} and ((bits[{bit.format(j=j)} + i] >> (c & 31)) & 1) != 0) else 1",
            "                else:",
            f"                    rt = (c > (p >> 16)) & ((c != {MISSING}) | ((p >> 8) & 1 == 0))",
            f"                n{j} = {nxt.format(j=j)}",
        ]
    for j in range(GROUP):
        lines.append(f"            if {j} < m:")
        lines.append(f"                out[g + {j}] += {leaf.format(j=j)}")
    return "\n".join(lines)


def _compile(perfect: bool):  # type: ignore[no-untyped-def]
    ns: dict = {"min": min}
    exec(compile(_source(perfect), f"<forest_walk {'perfect' if perfect else 'general'}>", "exec"), ns)  # noqa: S102
    return njit(nogil=True)(ns["kern"])


_KERNELS: dict[bool, object] = {}


def kernel(perfect: bool):  # type: ignore[no-untyped-def]
    if perfect not in _KERNELS:
        _KERNELS[perfect] = _compile(perfect)
    return _KERNELS[perfect]


def depths(f: Forest) -> np.ndarray:
    """Each tree's depth (a one-leaf tree: 0)."""
    out = np.zeros(f.trees, np.int64)
    for t, root in enumerate(f.roots):
        stack, deepest = [(int(root), 0)], 0
        while stack:
            n, d = stack.pop()
            if n < 0:
                deepest = max(deepest, d)
                continue
            stack += [(int(f.left[n]), d + 1), (int(f.right[n]), d + 1)]
        out[t] = deepest
    return out


def _word(f: Forest, n: int, cat_index: int | None) -> int:
    if cat_index is not None:
        return int(f.feature[n]) | _CAT | (cat_index << 16)
    return int(f.feature[n]) | (int(f.default_left[n]) << 8) | (int(f.threshold[n]) << 16)


def perfect_tables(f: Forest, depth: int) -> tuple:
    """Perfect trees of ``depth`` levels: node words, leaf values, and the categorical nodes' bitsets."""
    inner, n_trees = (1 << depth) - 1, f.trees
    node = np.full((n_trees, max(inner, 1)), np.uint32(MISSING << 16), np.uint32)  # feature 0, always left
    leaf = np.zeros((n_trees, inner + 1), np.float64)
    catoff: list[int] = []
    catw: list[int] = []
    for t, root in enumerate(f.roots):
        stack = [(int(root), 0, 0)]
        while stack:
            n, pos, d = stack.pop()
            if n < 0:
                lo = hi = pos
                for _ in range(depth - d):
                    lo, hi = 2 * lo + 1, 2 * hi + 2
                leaf[t, lo - inner : hi - inner + 1] = f.leaf_value[~n]
                continue
            ci = None
            if f.words[n] > 0:
                ci = len(catoff)
                catoff.append(int(f.threshold[n]))
                catw.append(int(f.words[n]))
            node[t, pos] = _word(f, n, ci)
            stack += [(int(f.left[n]), 2 * pos + 1, d + 1), (int(f.right[n]), 2 * pos + 2, d + 1)]
    return (n_trees, depth, node.ravel(), leaf.ravel(), np.array(catoff, np.int64), np.array(catw, np.int64), f.bits)


def general_tables(f: Forest, depth: np.ndarray) -> tuple:
    """Trees in their own shape: leaves as nodes that lead to themselves, children in a table."""
    n_nodes, n_leaves = len(f.feature), len(f.leaf_value)
    total = n_nodes + n_leaves
    eid = lambda c: int(c) if c >= 0 else n_nodes + ~int(c)  # noqa: E731
    packed = np.full(total, np.uint32(MISSING << 16), np.uint32)
    nxt = np.zeros(2 * total, np.int64)
    catoff = np.zeros(total, np.int64)
    catw = np.zeros(total, np.int64)
    leafidx = np.zeros(total, np.int64)
    for n in range(n_nodes):
        cat = f.words[n] > 0
        packed[n] = (int(f.feature[n]) | _CAT) if cat else _word(f, n, None)
        catoff[n], catw[n] = (f.threshold[n], f.words[n]) if cat else (0, 0)
        nxt[2 * n], nxt[2 * n + 1] = eid(f.left[n]), eid(f.right[n])
    for leaf in range(n_leaves):
        e = n_nodes + leaf
        nxt[2 * e] = nxt[2 * e + 1] = e
        leafidx[e] = leaf
    roots = np.array([eid(r) for r in f.roots], np.int64)
    return (f.trees, roots, depth, packed, nxt, catoff, catw, f.bits, leafidx, f.leaf_value)
