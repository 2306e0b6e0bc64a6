package tickwise.flink;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeHint;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * Ticks to 1-minute bars for one symbol: the rules of {@code marketdata/fold.py} and
 * {@code marketdata/aggregate.py} (the Python aggregator, the batch reference), tick by tick in arrival order.
 *
 * <p>A bar stamped {@code e} covers trades with event time in {@code [e - 1 min, e)}; its NBBO is the last quote
 * with event time {@code < e}, carried across minutes. The watermark W is Flink's, floored to the minute (Flink's
 * bounded-out-of-orderness watermark is the slowest partition's latest event time minus the lateness, as in the
 * Python scorer); a tick with event time {@code < W} is late. Each tick is screened in the aggregator's order (the
 * first reason wins): a trade marked corrected or cancelled, a non-positive price, a non-positive size, late, a
 * repeat of an accepted {@code (symbol, seq)} of a minute still open; a quote with a non-positive bid or ask,
 * crossed, a negative size, late, a repeat. Refused ticks go to {@link #REJECTS} with the aggregator's reason.
 *
 * <p>A minute's bar is emitted when W passes its end (an event-time timer at {@code e - 1 ms}): the first and last
 * print by (time, sequence), high, low, volume, VWAP from the notional summed in exact integer micro-dollars, the
 * count. A halt (status messages: halted at its start, resumed at its end) marks every bar whose window overlaps
 * it; a halted minute without trades is a flat bar at the symbol's last close (none before a first close).
 *
 * <p>Flink does not checkpoint watermarks: a restarted job's watermark starts over. The watermark this subtask had
 * reached is therefore kept with each checkpoint and restored, so a tick that was late before a failure is still
 * late after it (and never reopens a minute whose bar is out).
 */
public class BarFold extends KeyedProcessFunction<String, Tick, Bar> implements CheckpointedFunction {
    public static final OutputTag<Reject> REJECTS = new OutputTag<>("rejects", TypeInformation.of(Reject.class));

    static final long NS_PER_MIN = 60_000_000_000L;
    static final long NS_PER_MS = 1_000_000L;
    static final long SEQ_MASK = (1L << 40) - 1;
    static final long OPEN_HALT = (Long.MAX_VALUE / NS_PER_MIN - 1) * NS_PER_MIN;
    static final double PV_SCALE = 1e6;

    static final String BAD_SIZE = "non-positive or NaN size";
    static final String BAD_PRICE = "non-positive or NaN price";
    static final String CORRECTED = "corrected or cancelled by the source";
    static final String LATE = "event time behind watermark";
    static final String REPEAT = "duplicate (symbol, seq)";
    static final String BAD_QSIZE = "negative or NaN size";
    static final String CROSSED = "crossed quote (bid > ask)";
    static final String BAD_QUOTE = "non-positive or NaN bid/ask";

    /** A trade minute not yet finalized. */
    public static class TradePartial {
        public long fts, fseq, lts, lseq, pvi, n;
        public double open, close, high, low, vol, pvr;

        public TradePartial() {}
    }

    /** The last quote (by time, then sequence) of a minute not yet finalized. */
    public static class QuotePartial {
        public long ts = -1, seq = -1;
        public double bid, ask, bidSize, askSize;

        public QuotePartial() {}
    }

    private transient MapState<Long, TradePartial> trades;
    private transient MapState<Long, QuotePartial> quotes;
    private transient MapState<Long, Long> tradeSeen; // seq -> end of its minute
    private transient MapState<Long, Long> quoteSeen;
    private transient ValueState<long[]> halts; // start, end pairs
    private transient ValueState<double[]> last; // last close, then the last quote's bid, ask, bid size, ask size
    private transient ListState<Long> reached; // the watermark reached (ns), per subtask, in checkpoints
    private long floor = Long.MIN_VALUE; // the watermark restored, and since raised by every timer fired

    @Override
    public void initializeState(FunctionInitializationContext ctx) throws Exception {
        reached = ctx.getOperatorStateStore().getUnionListState(new ListStateDescriptor<>("watermark", Types.LONG));
        for (Long w : reached.get()) floor = Math.max(floor, w);
    }

    @Override
    public void snapshotState(FunctionSnapshotContext ctx) throws Exception {
        reached.update(List.of(floor));
    }

    @Override
    public void open(OpenContext ctx) {
        var rt = getRuntimeContext();
        trades = rt.getMapState(new MapStateDescriptor<>("trades", Types.LONG, TypeInformation.of(TradePartial.class)));
        quotes = rt.getMapState(new MapStateDescriptor<>("quotes", Types.LONG, TypeInformation.of(QuotePartial.class)));
        tradeSeen = rt.getMapState(new MapStateDescriptor<>("trade-seen", Types.LONG, Types.LONG));
        quoteSeen = rt.getMapState(new MapStateDescriptor<>("quote-seen", Types.LONG, Types.LONG));
        halts = rt.getState(new ValueStateDescriptor<>("halts", TypeInformation.of(new TypeHint<long[]>() {})));
        last = rt.getState(new ValueStateDescriptor<>("last", TypeInformation.of(new TypeHint<double[]>() {})));
    }

    /** Flink's watermark (ms) as the aggregator's: floored to the minute, in ns. */
    static long watermarkNs(long wmMs) {
        if (wmMs == Long.MIN_VALUE) return Long.MIN_VALUE;
        if (wmMs == Long.MAX_VALUE) return Long.MAX_VALUE;
        return Math.floorDiv(Math.multiplyExact(wmMs + 1, NS_PER_MS), NS_PER_MIN) * NS_PER_MIN;
    }

    static long minuteEnd(long ts) {
        return (Math.floorDiv(ts, NS_PER_MIN) + 1) * NS_PER_MIN;
    }

    private static void timer(Context ctx, long end) {
        ctx.timerService().registerEventTimeTimer(end / NS_PER_MS - 1);
    }

    @Override
    public void processElement(Tick t, Context ctx, Collector<Bar> out) throws Exception {
        long w = Math.max(floor, watermarkNs(ctx.timerService().currentWatermark()));
        floor = w;
        switch (t.kind) {
            case Tick.TRADE -> trade(t, w, ctx);
            case Tick.QUOTE -> quote(t, w, ctx);
            case Tick.STATUS -> status(t, w, ctx);
            default -> ctx.output(REJECTS, Reject.of(t, t.reason));
        }
    }

    private boolean repeat(MapState<Long, Long> seen, long seq, long end, long w) throws Exception {
        long key = seq & SEQ_MASK;
        Long held = seen.get(key);
        if (held != null && held > w) return true;
        seen.put(key, end);
        return false;
    }

    private void trade(Tick t, long w, Context ctx) throws Exception {
        double p = t.price, v = t.size;
        String why = t.correction != 0 ? CORRECTED : !(p > 0) ? BAD_PRICE : !(v > 0) ? BAD_SIZE : t.ts < w ? LATE : null;
        long end = minuteEnd(t.ts);
        if (why == null && repeat(tradeSeen, t.seq, end, w)) why = REPEAT;
        if (why != null) {
            ctx.output(REJECTS, Reject.of(t, why));
            return;
        }
        double p6 = Math.rint(p * PV_SCALE);
        boolean exact = Math.abs(p * PV_SCALE - p6) < 1e-3 && v == Math.rint(v) && p6 * v < 9007199254740992.0;
        long pvi = exact ? (long) (p6 * v) : 0L;
        double pvr = exact ? 0.0 : p * v;
        TradePartial r = trades.get(end);
        if (r == null) {
            r = new TradePartial();
            r.fts = r.lts = t.ts;
            r.fseq = r.lseq = t.seq;
            r.pvi = pvi;
            r.open = r.close = r.high = r.low = p;
            r.vol = v;
            r.pvr = pvr;
            r.n = 1;
            trades.put(end, r);
            timer(ctx, end);
            return;
        }
        if (t.ts < r.fts || (t.ts == r.fts && t.seq < r.fseq)) {
            r.fts = t.ts;
            r.fseq = t.seq;
            r.open = p;
        }
        if (t.ts > r.lts || (t.ts == r.lts && t.seq > r.lseq)) {
            r.lts = t.ts;
            r.lseq = t.seq;
            r.close = p;
        }
        r.high = Math.max(r.high, p);
        r.low = Math.min(r.low, p);
        r.vol += v;
        r.pvi += pvi;
        r.pvr += pvr;
        r.n += 1;
        trades.put(end, r);
    }

    private void quote(Tick t, long w, Context ctx) throws Exception {
        double b = t.bid, a = t.ask;
        String why = !(b > 0) || !(a > 0) ? BAD_QUOTE
                : b > a ? CROSSED
                : !(t.bidSize >= 0 && t.askSize >= 0) ? BAD_QSIZE
                : t.ts < w ? LATE : null;
        long end = minuteEnd(t.ts);
        if (why == null && repeat(quoteSeen, t.seq, end, w)) why = REPEAT;
        if (why != null) {
            ctx.output(REJECTS, Reject.of(t, why));
            return;
        }
        QuotePartial q = quotes.get(end);
        if (q == null) {
            q = new QuotePartial();
            timer(ctx, end);
        }
        if (t.ts > q.ts || (t.ts == q.ts && t.seq > q.seq)) {
            q.ts = t.ts;
            q.seq = t.seq;
            q.bid = b;
            q.ask = a;
            q.bidSize = t.bidSize;
            q.askSize = t.askSize;
        }
        quotes.put(end, q);
    }

    /** A halt begins at ts (open until its end arrives), or the open halts end at ts (never before they began). */
    private void status(Tick t, long w, Context ctx) throws Exception {
        long[] h = halts.value();
        if (h == null) h = new long[0];
        if (t.halted) {
            long[] g = java.util.Arrays.copyOf(h, h.length + 2);
            g[h.length] = t.ts;
            g[h.length + 1] = OPEN_HALT;
            halts.update(g);
            long first = Math.floorDiv(t.ts, NS_PER_MIN) * NS_PER_MIN + NS_PER_MIN;
            timer(ctx, w == Long.MIN_VALUE ? first : Math.max(first, w + NS_PER_MIN));
            return;
        }
        long lastStart = Long.MIN_VALUE;
        for (int i = 0; i < h.length; i += 2) if (h[i + 1] == OPEN_HALT) lastStart = h[i];
        if (lastStart == Long.MIN_VALUE) return;
        long end = Math.max(t.ts, lastStart);
        for (int i = 0; i < h.length; i += 2) if (h[i + 1] == OPEN_HALT) h[i + 1] = end;
        halts.update(h);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Bar> out) throws Exception {
        long e = (timestamp + 1) * NS_PER_MS;
        if (timestamp != Long.MAX_VALUE) floor = Math.max(floor, e);
        double[] l = last.value();
        if (l == null) l = new double[] {Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN};
        QuotePartial q = quotes.get(e);
        if (q != null) {
            l[1] = q.bid;
            l[2] = q.ask;
            l[3] = q.bidSize;
            l[4] = q.askSize;
            quotes.remove(e);
        }
        boolean halted = false, continues = false;
        long[] h = halts.value();
        if (h != null && h.length > 0) {
            List<Long> keep = new ArrayList<>();
            for (int i = 0; i < h.length; i += 2) {
                long lo = Math.floorDiv(h[i], NS_PER_MIN) * NS_PER_MIN + NS_PER_MIN;
                long lastEnd = -Math.floorDiv(-h[i + 1], NS_PER_MIN) * NS_PER_MIN;
                if (lo <= e && e <= lastEnd) halted = true;
                if (lastEnd > e) {
                    keep.add(h[i]);
                    keep.add(h[i + 1]);
                    if (lo <= e + NS_PER_MIN) continues = true;
                }
            }
            if (keep.isEmpty()) halts.clear();
            else halts.update(keep.stream().mapToLong(Long::longValue).toArray());
        }
        TradePartial r = trades.get(e);
        Bar bar = null;
        if (r != null) {
            bar = new Bar();
            bar.open = r.open;
            bar.high = r.high;
            bar.low = r.low;
            bar.close = r.close;
            bar.volume = r.vol;
            bar.vwap = (r.pvi / PV_SCALE + r.pvr) / r.vol;
            bar.trades = (int) r.n;
            trades.remove(e);
        } else if (halted && !Double.isNaN(l[0])) {
            bar = new Bar();
            bar.open = bar.high = bar.low = bar.close = bar.vwap = l[0];
            bar.volume = 0.0;
            bar.trades = 0;
        }
        if (bar != null) {
            bar.symbol = ctx.getCurrentKey();
            bar.end = e;
            bar.halted = halted;
            bar.bid = l[1];
            bar.ask = l[2];
            bar.bidSize = l[3];
            bar.askSize = l[4];
            l[0] = bar.close;
            out.collect(bar);
        }
        last.update(l);
        if (continues) timer(ctx, e + NS_PER_MIN);
        forget(tradeSeen, e);
        forget(quoteSeen, e);
    }

    /** Drop the repeat keys of minutes now final: they can no longer change a bar. */
    private static void forget(MapState<Long, Long> seen, long e) throws Exception {
        Iterator<Map.Entry<Long, Long>> it = seen.iterator();
        while (it.hasNext()) if (it.next().getValue() <= e) it.remove();
    }
}
