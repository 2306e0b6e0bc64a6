package tickwise.flink;

/**
 * One tick as the job carries it: a trade, an NBBO quote, a trading-status change, or a refusal found while
 * decoding (kind {@link #BAD}, with its reason). Times are UTC epoch nanoseconds. Where it came from (topic,
 * partition, offset, index in the message) travels with it so a refusal is dead-lettered with its coordinates.
 */
public class Tick {
    public static final byte TRADE = 0, QUOTE = 1, STATUS = 2, BAD = 3;

    public byte kind;
    public String symbol;
    public long ts;
    public long seq;
    public double price, size;
    public int correction;
    public double bid, ask, bidSize, askSize;
    public boolean halted;
    // provenance
    public String topic = "";
    public int partition;
    public long offset;
    public int index = -1; // -1: the whole message was refused
    public String reason = "";
    public String json = ""; // the refused tick's values, or the refused message in base64
    public byte source; // a refused tick's own kind

    public Tick() {}

    /** The contract name of the tick's source ("trades", "quotes", "status"). */
    public String source() {
        byte k = kind == BAD ? source : kind;
        return k == TRADE ? "trades" : k == QUOTE ? "quotes" : "status";
    }
}
