package tickwise.flink;

/** The bars of one minute from one subtask, and how far that subtask has got: once its watermark W is published,
 * the subtask has sent every bar stamped at or before W. An empty batch only reports the watermark. */
public class BarBatch {
    public long minute; // the bars' stamp (ns); = watermark for an empty batch
    public long watermark; // ns, floored to the minute
    public int subtask, subtasks, count;
    public byte[] payload;

    public BarBatch() {}
}
