package tickwise.flink;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

/**
 * Bars -> one message per (minute, subtask) when the watermark passes the minute, each saying how far its
 * subtask has got ({@link BarBatch#watermark}): a consumer knows minute m is whole once every subtask has
 * reported a watermark at or past m. A watermark that closes no bar of this subtask still sends an empty batch.
 */
public class MinuteBatcher extends AbstractStreamOperator<BarBatch> implements OneInputStreamOperator<Bar, BarBatch> {
    private transient TreeMap<Long, List<Bar>> open;
    private transient long done;
    private transient ListState<Bar> openState;
    private transient ListState<Long> doneState;

    @Override
    public void initializeState(StateInitializationContext ctx) throws Exception {
        super.initializeState(ctx);
        open = new TreeMap<>();
        done = Long.MIN_VALUE;
        openState = ctx.getOperatorStateStore().getListState(new ListStateDescriptor<>("open-bars", TypeInformation.of(Bar.class)));
        doneState = ctx.getOperatorStateStore().getUnionListState(new ListStateDescriptor<>("done", Types.LONG));
        for (Bar b : openState.get()) open.computeIfAbsent(b.end, k -> new ArrayList<>()).add(b);
        long lowest = Long.MAX_VALUE;
        for (Long d : doneState.get()) lowest = Math.min(lowest, d);
        if (lowest != Long.MAX_VALUE) done = lowest; // after a rescale: from the slowest former subtask on
    }

    @Override
    public void snapshotState(StateSnapshotContext ctx) throws Exception {
        super.snapshotState(ctx);
        List<Bar> all = new ArrayList<>();
        open.values().forEach(all::addAll);
        openState.update(all);
        doneState.update(List.of(done));
    }

    @Override
    public void processElement(StreamRecord<Bar> r) {
        Bar b = r.getValue();
        open.computeIfAbsent(b.end, k -> new ArrayList<>()).add(b);
    }

    @Override
    public void processWatermark(Watermark mark) throws Exception {
        long w = BarFold.watermarkNs(mark.getTimestamp());
        if (w > done && w != Long.MIN_VALUE) {
            int me = getRuntimeContext().getTaskInfo().getIndexOfThisSubtask();
            int all = getRuntimeContext().getTaskInfo().getNumberOfParallelSubtasks();
            long reported = w == Long.MAX_VALUE ? (open.isEmpty() ? done : open.lastKey()) : w;
            boolean sent = false;
            while (!open.isEmpty() && open.firstKey() <= w) {
                Map.Entry<Long, List<Bar>> e = open.pollFirstEntry();
                output.collect(new StreamRecord<>(batch(e.getKey(), reported, me, all, e.getValue())));
                sent = true;
            }
            if (!sent && reported != Long.MIN_VALUE) output.collect(new StreamRecord<>(batch(reported, reported, me, all, List.of())));
            done = w;
        }
        super.processWatermark(mark);
    }

    private static BarBatch batch(long minute, long w, int me, int all, List<Bar> bars) {
        BarBatch b = new BarBatch();
        b.minute = minute;
        b.watermark = w;
        b.subtask = me;
        b.subtasks = all;
        b.count = bars.size();
        b.payload = TickCodec.encodeBars(bars);
        return b;
    }
}
