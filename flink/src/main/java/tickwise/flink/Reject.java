package tickwise.flink;

/** A refused tick with its reason (the aggregator's words) and where it came from. */
public class Reject {
    public String source; // trades | quotes | status | a topic's kind
    public String symbol;
    public long ts;
    public long seq;
    public String reason;
    public String topic = "";
    public int partition;
    public long offset;
    public int index = -1;
    public String json = "";

    public Reject() {}

    static Reject of(Tick t, String reason) {
        Reject r = new Reject();
        r.source = t.source();
        r.symbol = t.symbol;
        r.ts = t.ts;
        r.seq = t.seq;
        r.reason = reason;
        r.topic = t.topic;
        r.partition = t.partition;
        r.offset = t.offset;
        r.index = t.index;
        r.json = t.json.isEmpty() && t.kind != Tick.BAD ? TickCodec.json(t) : t.json;
        return r;
    }
}
