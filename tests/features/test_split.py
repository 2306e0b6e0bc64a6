"""The online step on two threads (features.fused.split): the same bits as one, whoever does which chunk."""

import time

import numpy as np
import pytest

from features.batch import cross_sections
from features.engine import FeatureEngine
from features.fused import split
from features.fused.split import CHUNK, Helper
from features.state_io import dumps, loads
from features.streams import random_stream


def replay(engine: FeatureEngine, bars, restore_every: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """The online rows of every minute, and each minute's ticks per thread and stage."""
    st = engine.new_state()
    rows, ticks = [], []
    for k, (t, syms, cols, halted) in enumerate(cross_sections(bars)):
        if restore_every and k % restore_every == 0:
            st = loads(dumps(st))
        st, vals = engine.step(st, t, syms, cols, halted)
        engine.prepare(st)
        rows.append(vals)
        ticks.append(engine.scratch.thread_ticks())
    return np.vstack(rows), ticks


@pytest.fixture(scope="module")
def stream():
    # more symbols than two chunks a part, so the parts are cut; a split, a dividend, halts, a late joiner
    return random_stream(3, n_symbols=2 * CHUNK + 40, days=2, minutes=30)


def test_two_threads_give_the_bits_of_one(stream):
    bars, ref, ca = stream
    one, _ = replay(FeatureEngine(ref, ca, step_threads=1), bars)
    two, _ = replay(FeatureEngine(ref, ca, step_threads=2), bars, restore_every=11)
    assert (~np.isnan(one)).sum() > one.size // 2
    assert np.array_equal(one, two, equal_nan=True)


def test_the_helper_alone_does_every_chunk_and_gets_the_same_bits(stream):
    bars, ref, ca = stream
    one, _ = replay(FeatureEngine(ref, ca, step_threads=1), bars)
    eng = FeatureEngine(ref, ca, step_threads=2)
    eng.scratch.helper_only = True
    two, ticks = replay(eng, bars)
    assert np.array_equal(one, two, equal_nan=True)
    per_thread = np.sum(ticks, axis=0)  # (thread, stage)
    chunked = [k for k in range(per_thread.shape[1]) if k not in (9, 10)]  # leaders and rank are the caller's
    assert (per_thread[0, chunked] == 0).all() and (per_thread[1, chunked] > 0).all()
    assert (per_thread[0, [9, 10]] > 0).all() and (per_thread[1, [9, 10]] == 0).all()


def test_one_thread_never_wakes_the_helper(stream):
    bars, ref, ca = stream
    eng = FeatureEngine(ref, ca, step_threads=1)
    eng.scratch.helper_only = True  # ignored without a helper: the caller does every chunk
    _, ticks = replay(eng, bars.slice(0, 2000))
    assert np.sum(ticks, axis=0)[1].sum() == 0


def test_a_helper_that_comes_late_leaves_without_touching_anything():
    ctrl = split.new_ctrl()
    gen = split.begin(ctrl, (10, 10, 10), two=True)
    assert split.enter(ctrl, gen) and ctrl[split.IN] == 1  # the minute is under way: it joins
    split.leave(ctrl)
    assert not split.enter(ctrl, gen - 1) and ctrl[split.IN] == 0  # another minute's helper
    split.end(ctrl)  # the minute finished
    assert not split.enter(ctrl, gen) and ctrl[split.IN] == 0
    nxt = split.begin(ctrl, (10, 10, 10), two=True)
    assert not split.enter(ctrl, gen) and split.enter(ctrl, nxt)


@pytest.mark.parametrize("size", [0, 1, CHUNK, 5 * CHUNK + 3, 4600])
def test_claims_from_both_ends_cover_each_item_once_and_shrink_as_they_meet(size):
    ctrl = split.new_ctrl()
    split.begin(ctrl, (size, size, size), two=True)
    got = []
    for step in range(10_000):  # the caller claims twice for each of the helper's claims, then alone
        who = 1 if step % 3 == 2 and step < 12 else 0
        lo, hi = split.claim(ctrl, 1, who)
        if lo < 0:
            break
        got.append((lo, hi, who))
        split.finished(ctrl, 1, lo, hi)
    covered = np.zeros(size, int)
    for lo, hi, _ in got:
        covered[lo:hi] += 1
    assert (covered == 1).all() and ctrl[split.FIN + 1] == size
    sizes = [hi - lo for lo, hi, _ in got]
    assert all(s <= max(CHUNK, size // 4) for s in sizes)
    firsts = {who: (lo, hi) for lo, hi, who in reversed(got)}
    assert firsts.get(0, (0, 0))[0] == 0  # the caller from the front ...
    assert firsts.get(1, (0, size))[1] == size  # ... the helper from the back
    alone = split.new_ctrl()
    split.begin(alone, (size, size, size), two=False)
    assert split.claim(alone, 1, 0) == ((0, size) if size else (-1, -1))  # alone: the whole part at once
    assert split.claim(alone, 1, 0) == (-1, -1)


def test_an_error_in_the_helper_is_raised_by_the_step():
    helper = Helper.get()

    def broken(*args):
        raise ValueError("boom")

    helper.run(broken, (), split.new_ctrl(), 0)
    deadline = time.monotonic() + 10
    while helper.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(RuntimeError, match="helper thread failed") as err:
        helper.check()
    assert isinstance(err.value.__cause__, ValueError)
    helper.check()  # raised once, then cleared


def test_step_threads_is_checked():
    with pytest.raises(ValueError, match="step_threads"):
        FeatureEngine(step_threads=3)


def test_a_forked_child_starts_its_own_helper():
    """Without the fork hook the child would get the parent's helper, whose thread does not exist there. Run in a
    fresh interpreter: forking the test runner, whose earlier tests left threads holding locks, can hang the child
    before it reaches the hook."""
    import subprocess
    import sys

    code = (
        "import multiprocessing as mp\n"
        "from features.fused.split import Helper\n"
        "from tests.features.test_split import _child_helper_alive\n"
        "Helper.get()\n"
        "with mp.get_context('fork').Pool(1) as pool:\n"
        "    print(pool.apply(_child_helper_alive))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "True"


def _child_helper_alive() -> bool:
    return Helper.get().thread.is_alive()
