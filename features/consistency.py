"""Online/offline consistency (Chronon-style): served feature rows vs the offline fold on the same bars."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def mismatches(served: pa.Table, offline: pa.Table, names: list[str]) -> dict:
    """Per-feature count of (symbol, ts) rows whose float32 values differ (NaN equals NaN), plus row coverage."""

    def keyed(t: pa.Table) -> pa.Table:
        return t.sort_by([("ts", "ascending"), ("symbol", "ascending")])

    s, o = keyed(served), keyed(offline)
    sk = pc.binary_join_element_wise(s.column("symbol"), pc.cast(s.column("ts").cast(pa.int64()), pa.string()), "|")
    ok = pc.binary_join_element_wise(o.column("symbol"), pc.cast(o.column("ts").cast(pa.int64()), pa.string()), "|")
    in_off = pc.is_in(sk, value_set=ok).to_numpy(zero_copy_only=False)
    in_srv = pc.is_in(ok, value_set=sk).to_numpy(zero_copy_only=False)
    s, o = s.filter(pa.array(in_off)), o.filter(pa.array(in_srv))
    out: dict = {"rows_compared": s.num_rows, "served_only": int((~in_off).sum()), "offline_only": int((~in_srv).sum())}
    per = {}
    for n in names:
        a = s.column(n).to_numpy(zero_copy_only=False).astype(np.float32)
        b = o.column(n).to_numpy(zero_copy_only=False).astype(np.float32)
        per[n] = int((~((a == b) | (np.isnan(a) & np.isnan(b)))).sum())
    out["per_feature"] = per
    out["total"] = sum(per.values())
    return out
