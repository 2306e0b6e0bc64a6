package tickwise.flink;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.apache.arrow.flatbuf.Message;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.BigIntVector;
import org.apache.arrow.vector.BitVector;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.Float8Vector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.TinyIntVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ArrowStreamReader;
import org.apache.arrow.vector.ipc.ArrowStreamWriter;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;
import org.apache.arrow.vector.util.ValueVectorUtility;

/**
 * The project's Kafka payloads in Java: a message is one Arrow IPC stream of ticks of one kind
 * ({@code serving/feed/tick_codec.py}, decision 032), and the bars topic carries one Arrow IPC stream of bars per
 * (minute, subtask). A message that is not such a stream, lacks a column or has one of another type is refused
 * whole; inside a good one a tick with a null, a non-finite number or an empty symbol is refused alone, with the
 * words the Python decoder uses.
 */
public final class TickCodec {
    private TickCodec() {}

    static final BufferAllocator ALLOCATOR = new RootAllocator();

    static final ArrowType UTF8 = new ArrowType.Utf8();
    static final ArrowType I64 = new ArrowType.Int(64, true);
    static final ArrowType I32 = new ArrowType.Int(32, true);
    static final ArrowType I8 = new ArrowType.Int(8, true);
    static final ArrowType F64 = new ArrowType.FloatingPoint(FloatingPointPrecision.DOUBLE);
    static final ArrowType BOOL = new ArrowType.Bool();

    static final String[] TRADES = {"symbol", "ts", "price", "size", "seq", "correction"};
    static final String[] QUOTES = {"symbol", "ts", "bid", "ask", "bid_size", "ask_size", "seq"};
    static final String[] STATUS = {"symbol", "ts", "halted"};
    static final Map<String, ArrowType> TYPES = Map.ofEntries(
            Map.entry("symbol", UTF8), Map.entry("ts", I64), Map.entry("seq", I64), Map.entry("correction", I8),
            Map.entry("price", F64), Map.entry("size", F64), Map.entry("bid", F64), Map.entry("ask", F64),
            Map.entry("bid_size", F64), Map.entry("ask_size", F64), Map.entry("halted", BOOL));

    /** A message that cannot be read as a batch of ticks; the text is the dead-letter reason. */
    public static class BadPayload extends Exception {
        public BadPayload(String why) {
            super(why);
        }
    }

    static String[] fields(byte kind) {
        return kind == Tick.TRADE ? TRADES : kind == Tick.QUOTE ? QUOTES : STATUS;
    }

    /** The kind of ticks a schema holds (by the column only that kind has), or -1. */
    static byte kindOf(Schema schema) {
        for (Field f : schema.getFields()) {
            switch (f.getName()) {
                case "price": return Tick.TRADE;
                case "bid": return Tick.QUOTE;
                case "halted": return Tick.STATUS;
                default: break;
            }
        }
        return -1;
    }

    /** Every tick of one message, refused ones as {@link Tick#BAD} with their reason. */
    public static List<Tick> decode(byte kind, byte[] value, String topic, int partition, long offset) throws BadPayload {
        List<Tick> out = new ArrayList<>();
        framed(value);
        ArrowStreamReader reader = new ArrowStreamReader(new ByteArrayInputStream(value), ALLOCATOR);
        try {
            VectorSchemaRoot root = unreadable(() -> reader.getVectorSchemaRoot());
            check(kind, root.getSchema());
            int base = 0;
            while (unreadable(() -> loadValid(reader, root))) {
                rows(kind, root, base, topic, partition, offset, out);
                base += root.getRowCount();
            }
        } finally {
            unreadable(() -> { reader.close(); return null; });
        }
        return out;
    }

    /** The next batch, its buffers checked (offsets, lengths, UTF-8) before any row is read, as pyarrow's
     * ``validate(full=True)`` does on the Python side: a damaged body is refused, never read past its end. */
    static boolean loadValid(ArrowStreamReader reader, VectorSchemaRoot root) throws IOException {
        if (!reader.loadNextBatch()) return false;
        for (FieldVector v : root.getFieldVectors()) ValueVectorUtility.validateFull(v);
        return true;
    }

    /** Every length the stream's framing declares (each message's metadata and body) fits in the payload: bytes
     * that are not an IPC stream must be refused before Arrow sizes a buffer from them (four ASCII letters read as a
     * length ask for gigabytes). */
    static void framed(byte[] value) throws BadPayload {
        ByteBuffer b = ByteBuffer.wrap(value).order(ByteOrder.LITTLE_ENDIAN);
        try {
            while (true) {
                if (b.remaining() < 4) throw new BadPayload("not an Arrow IPC tick batch: no end-of-stream marker");
                int len = b.getInt();
                if (len == -1) {
                    if (b.remaining() < 4) throw new BadPayload("not an Arrow IPC tick batch: cut short");
                    len = b.getInt();
                }
                if (len == 0) return;
                if (len < 0 || len > b.remaining())
                    throw new BadPayload("not an Arrow IPC tick batch: a message of " + len + " bytes in " + b.remaining());
                Message m = Message.getRootAsMessage(b.slice(b.position(), len).order(ByteOrder.LITTLE_ENDIAN));
                long body = m.bodyLength();
                b.position(b.position() + len);
                if (body < 0 || body > b.remaining())
                    throw new BadPayload("not an Arrow IPC tick batch: a body of " + body + " bytes in " + b.remaining());
                b.position(b.position() + (int) body);
            }
        } catch (RuntimeException e) {
            throw new BadPayload("not an Arrow IPC tick batch: " + e);
        }
    }

    interface Read<T> {
        T get() throws IOException;
    }

    /** What Arrow says of bytes it cannot read (it throws runtime exceptions too) as the message's refusal; only
     * the reading is guarded, so a fault in our own code is never dead-lettered as bad input. */
    static <T> T unreadable(Read<T> read) throws BadPayload {
        try {
            return read.get();
        } catch (IOException | RuntimeException e) {
            String m = String.valueOf(e.getMessage()).lines().findFirst().orElse("");
            throw new BadPayload("not an Arrow IPC tick batch: " + m.substring(0, Math.min(120, m.length())));
        }
    }

    /** Refuses a schema that lacks a column of ``kind`` or has one of another type (``correction`` may lack). */
    static void check(byte kind, Schema schema) throws BadPayload {
        for (String name : fields(kind)) {
            Field f = null;
            for (Field g : schema.getFields()) if (g.getName().equals(name)) f = g;
            if (f == null) {
                if (name.equals("correction")) continue;
                throw new BadPayload("missing column '" + name + "'");
            }
            if (!f.getType().equals(TYPES.get(name)))
                throw new BadPayload("column '" + name + "' is " + f.getType() + ", expected " + TYPES.get(name));
        }
    }

    /** The rows of one loaded batch, appended to ``out`` (index = base + row). */
    static void rows(byte kind, VectorSchemaRoot root, int base, String topic, int partition, long offset, List<Tick> out) {
        int n = root.getRowCount();
        String[] names = fields(kind);
        FieldVector[] v = new FieldVector[names.length];
        for (int j = 0; j < names.length; j++) v[j] = root.getVector(names[j]);
        for (int i = 0; i < n; i++) {
            Tick t = new Tick();
            t.kind = kind;
            t.topic = topic;
            t.partition = partition;
            t.offset = offset;
            t.index = base + i;
            String why = null;
            for (int j = 0; j < names.length && why == null; j++) {
                String name = names[j];
                FieldVector c = v[j];
                if (c == null) continue; // an absent correction column: regular prints
                if (c.isNull(i)) {
                    if (!name.equals("correction")) why = "missing field '" + name + "'";
                    continue;
                }
                switch (name) {
                    case "symbol" -> {
                        byte[] b = ((VarCharVector) c).get(i);
                        if (b.length == 0) why = "field 'symbol' must be a non-empty string";
                        else t.symbol = new String(b, StandardCharsets.UTF_8);
                    }
                    case "ts" -> t.ts = ((BigIntVector) c).get(i);
                    case "seq" -> t.seq = ((BigIntVector) c).get(i);
                    case "correction" -> t.correction = ((TinyIntVector) c).get(i);
                    case "halted" -> t.halted = ((BitVector) c).get(i) != 0;
                    default -> {
                        double x = ((Float8Vector) c).get(i);
                        if (!Double.isFinite(x)) why = "field '" + name + "' must be a finite number";
                        switch (name) {
                            case "price" -> t.price = x;
                            case "size" -> t.size = x;
                            case "bid" -> t.bid = x;
                            case "ask" -> t.ask = x;
                            case "bid_size" -> t.bidSize = x;
                            default -> t.askSize = x;
                        }
                    }
                }
            }
            if (why != null) {
                t.json = json(t);
                t.kind = Tick.BAD;
                t.reason = why;
                t.source = kind;
            }
            out.add(t);
        }
    }

    /** A refused message, whole, as the dead-letter record's body. */
    static Tick refused(String topic, int partition, long offset, byte[] value, String why, byte kind) {
        Tick t = new Tick();
        t.kind = Tick.BAD;
        t.source = kind;
        t.topic = topic;
        t.partition = partition;
        t.offset = offset;
        t.reason = why;
        t.json = Base64.getEncoder().encodeToString(value);
        return t;
    }

    static String json(Tick t) {
        StringBuilder b = new StringBuilder("{\"symbol\": ").append(quote(t.symbol)).append(", \"ts\": ").append(t.ts);
        if (t.kind == Tick.TRADE)
            b.append(", \"price\": ").append(num(t.price)).append(", \"size\": ").append(num(t.size))
                    .append(", \"seq\": ").append(t.seq).append(", \"correction\": ").append(t.correction);
        else if (t.kind == Tick.QUOTE)
            b.append(", \"bid\": ").append(num(t.bid)).append(", \"ask\": ").append(num(t.ask))
                    .append(", \"bid_size\": ").append(num(t.bidSize)).append(", \"ask_size\": ").append(num(t.askSize))
                    .append(", \"seq\": ").append(t.seq);
        else b.append(", \"halted\": ").append(t.halted);
        return b.append('}').toString();
    }

    static String num(double x) {
        return Double.isFinite(x) ? Double.toString(x) : Double.isNaN(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity";
    }

    static String quote(String s) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    // ---- bars ----------------------------------------------------------------------------------------------
    static final Schema BARS = new Schema(List.of(
            new Field("symbol", FieldType.notNullable(UTF8), null),
            new Field("ts", FieldType.notNullable(I64), null),
            f64("open"), f64("high"), f64("low"), f64("close"), f64("volume"), f64("vwap"),
            new Field("trades", FieldType.notNullable(I32), null),
            f64("bid"), f64("ask"), f64("bid_size"), f64("ask_size"),
            new Field("halted", FieldType.notNullable(BOOL), null)));

    static Field f64(String name) {
        return new Field(name, FieldType.nullable(F64), null);
    }

    /** Bars as one Arrow IPC stream (a missing NBBO as null). */
    public static byte[] encodeBars(List<Bar> bars) {
        try (VectorSchemaRoot root = VectorSchemaRoot.create(BARS, ALLOCATOR)) {
            int n = bars.size();
            root.allocateNew();
            VarCharVector sym = (VarCharVector) root.getVector("symbol");
            BigIntVector ts = (BigIntVector) root.getVector("ts");
            IntVector cnt = (IntVector) root.getVector("trades");
            BitVector halted = (BitVector) root.getVector("halted");
            String[] fs = {"open", "high", "low", "close", "volume", "vwap", "bid", "ask", "bid_size", "ask_size"};
            Float8Vector[] f = new Float8Vector[fs.length];
            for (int j = 0; j < fs.length; j++) f[j] = (Float8Vector) root.getVector(fs[j]);
            for (int i = 0; i < n; i++) {
                Bar b = bars.get(i);
                sym.setSafe(i, b.symbol.getBytes(StandardCharsets.UTF_8));
                ts.setSafe(i, b.end);
                cnt.setSafe(i, b.trades);
                halted.setSafe(i, b.halted ? 1 : 0);
                double[] x = {b.open, b.high, b.low, b.close, b.volume, b.vwap, b.bid, b.ask, b.bidSize, b.askSize};
                for (int j = 0; j < fs.length; j++) {
                    if (Double.isNaN(x[j])) f[j].setNull(i);
                    else f[j].setSafe(i, x[j]);
                }
            }
            root.setRowCount(n);
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            try (ArrowStreamWriter w = new ArrowStreamWriter(root, null, buf)) {
                w.start();
                w.writeBatch();
                w.end();
            }
            return buf.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException("could not write a bars batch", e);
        }
    }
}
