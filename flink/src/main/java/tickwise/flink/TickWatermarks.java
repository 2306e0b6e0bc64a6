package tickwise.flink;

import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;

/**
 * One tick partition's watermark: its latest event time minus the lateness, as the scorer's (decision 004).
 *
 * <p>A partition silent for {@code idleMs} after it has delivered stops holding the others back. A partition that
 * has not delivered yet holds them for up to {@code startupIdleMs}: right after a (re)start every partition is
 * quiet, and with Flink's plain idleness the first to deliver would move the watermark past the others' backlog
 * and make it late. A refused tick (no event time) moves nothing.
 */
public class TickWatermarks implements WatermarkGenerator<Tick> {
    private final long latenessMs, idleMs, startupIdleMs;
    private final long born = System.currentTimeMillis();
    private long maxTs = Long.MIN_VALUE;
    private long lastEvent = Long.MIN_VALUE;
    private boolean idle;

    public TickWatermarks(long latenessMs, long idleMs, long startupIdleMs) {
        this.latenessMs = latenessMs;
        this.idleMs = idleMs;
        this.startupIdleMs = startupIdleMs;
    }

    @Override
    public void onEvent(Tick t, long ts, WatermarkOutput out) {
        if (t.kind == Tick.BAD) return;
        maxTs = Math.max(maxTs, ts);
        lastEvent = System.currentTimeMillis();
        idle = false;
    }

    @Override
    public void onPeriodicEmit(WatermarkOutput out) {
        long now = System.currentTimeMillis();
        boolean quiet = lastEvent == Long.MIN_VALUE ? now - born > startupIdleMs : now - lastEvent > idleMs;
        if (quiet) {
            if (!idle) out.markIdle();
            idle = true;
        } else if (lastEvent != Long.MIN_VALUE) {
            out.emitWatermark(new Watermark(maxTs - latenessMs - 1));
        }
    }

    /** Trading status never sets the clock (a halt's partition is quiet most of the day): always idle. */
    public static class Never implements WatermarkGenerator<Tick> {
        @Override
        public void onEvent(Tick t, long ts, WatermarkOutput out) {}

        @Override
        public void onPeriodicEmit(WatermarkOutput out) {
            out.markIdle();
        }
    }
}
