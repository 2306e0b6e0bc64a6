package tickwise.flink;

import java.io.IOException;
import java.time.Instant;
import java.time.ZoneId;
import java.util.Map;
import org.apache.flink.connector.file.sink.FileSink;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.formats.parquet.ParquetWriterFactory;
import org.apache.flink.streaming.api.functions.sink.filesystem.BucketAssigner;
import org.apache.flink.streaming.api.functions.sink.filesystem.OutputFileConfig;
import org.apache.flink.streaming.api.functions.sink.filesystem.bucketassigners.SimpleVersionedStringSerializer;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.api.WriteSupport;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.OutputFile;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.io.api.RecordConsumer;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;

/**
 * Raw ticks and bars into the Parquet lake in its layout, {@code <lake>/<dataset>/date=YYYY-MM-DD/part-*.parquet}
 * (the session's New York date), in the contract's schemas ({@code marketdata/schemas.py}). Flink's file sink rolls
 * a file at every checkpoint and makes it visible only once the checkpoint completes (until then it is a hidden
 * in-progress file, which lake readers skip), so each tick and bar lands exactly once through failures and rescales.
 */
public final class LakeSink {
    private LakeSink() {}

    static final ZoneId NY = ZoneId.of("America/New_York");

    static final MessageType TRADES = MessageTypeParser.parseMessageType(
            "message trades { required binary symbol (STRING); required int64 ts (TIMESTAMP(NANOS,true));"
                    + " required double price; required double size; required int64 seq;"
                    + " optional binary exchange (STRING); optional int32 correction (INTEGER(8,true)); }");
    static final MessageType QUOTES = MessageTypeParser.parseMessageType(
            "message quotes { required binary symbol (STRING); required int64 ts (TIMESTAMP(NANOS,true));"
                    + " required double bid; required double ask; required double bid_size; required double ask_size;"
                    + " required int64 seq; }");
    static final MessageType BARS = MessageTypeParser.parseMessageType(
            "message bars_1m { required binary symbol (STRING); required int64 ts (TIMESTAMP(NANOS,true));"
                    + " required double open; required double high; required double low; required double close;"
                    + " required double volume; required double vwap; required int32 trades;"
                    + " optional double bid; optional double ask; optional double bid_size; optional double ask_size;"
                    + " required boolean halted; }");

    /** The trades (kind TRADE) of a tick stream, as the lake's {@code trades}. */
    static FileSink<Tick> trades(String lake) {
        return sink(lake, "trades", TRADES, LakeSink::writeTrade, (Tick t) -> t.ts);
    }

    static FileSink<Tick> quotes(String lake) {
        return sink(lake, "quotes", QUOTES, LakeSink::writeQuote, (Tick t) -> t.ts);
    }

    /** Bars, stamped at their minute's end: the date is the minute's own (its last nanosecond's). */
    static FileSink<Bar> bars(String lake) {
        return sink(lake, "bars_1m", BARS, LakeSink::writeBar, (Bar b) -> b.end - 1);
    }

    interface Writer<T> extends java.io.Serializable {
        void write(RecordConsumer c, T row);
    }

    interface Stamp<T> extends java.io.Serializable {
        long ns(T row);
    }

    static <T> FileSink<T> sink(String lake, String dataset, MessageType schema, Writer<T> w, Stamp<T> stamp) {
        String text = schema.toString(); // MessageType is not serializable: the factory parses it on the TaskManager
        return FileSink.forBulkFormat(new Path(lake + "/" + dataset),
                        new ParquetWriterFactory<T>(out -> new Builder<>(out, text, w).withCompressionCodec(CompressionCodecName.SNAPPY).build()))
                .withBucketAssigner(new ByDate<>(stamp))
                .withOutputFileConfig(OutputFileConfig.builder().withPartPrefix("part-flink").withPartSuffix(".parquet").build())
                .build();
    }

    /** {@code date=YYYY-MM-DD}, the New York date of the row's time. */
    static final class ByDate<T> implements BucketAssigner<T, String> {
        private final Stamp<T> stamp;

        ByDate(Stamp<T> stamp) {
            this.stamp = stamp;
        }

        @Override
        public String getBucketId(T row, Context ctx) {
            long ns = stamp.ns(row);
            return "date=" + Instant.ofEpochSecond(Math.floorDiv(ns, 1_000_000_000L), Math.floorMod(ns, 1_000_000_000L)).atZone(NY).toLocalDate();
        }

        @Override
        public SimpleVersionedSerializer<String> getSerializer() {
            return SimpleVersionedStringSerializer.INSTANCE;
        }
    }

    static final class Builder<T> extends ParquetWriter.Builder<T, Builder<T>> {
        private final String schema;
        private final Writer<T> writer;

        Builder(OutputFile out, String schema, Writer<T> writer) {
            super(out);
            this.schema = schema;
            this.writer = writer;
        }

        @Override
        protected Builder<T> self() {
            return this;
        }

        @Override
        protected WriteSupport<T> getWriteSupport(Configuration conf) {
            MessageType type = MessageTypeParser.parseMessageType(schema);
            return new WriteSupport<T>() {
                private RecordConsumer c;

                @Override
                public WriteContext init(Configuration configuration) {
                    return new WriteContext(type, Map.of());
                }

                @Override
                public void prepareForWrite(RecordConsumer consumer) {
                    c = consumer;
                }

                @Override
                public void write(T row) {
                    c.startMessage();
                    writer.write(c, row);
                    c.endMessage();
                }
            };
        }
    }

    // ---- rows: fields in schema order; an optional field left out is null -------------------------------------
    static void string(RecordConsumer c, String name, int i, String v) {
        c.startField(name, i);
        c.addBinary(Binary.fromString(v));
        c.endField(name, i);
    }

    static void int64(RecordConsumer c, String name, int i, long v) {
        c.startField(name, i);
        c.addLong(v);
        c.endField(name, i);
    }

    static void int32(RecordConsumer c, String name, int i, int v) {
        c.startField(name, i);
        c.addInteger(v);
        c.endField(name, i);
    }

    static void float64(RecordConsumer c, String name, int i, double v) {
        c.startField(name, i);
        c.addDouble(v);
        c.endField(name, i);
    }

    /** An optional double: NaN (the NBBO before the symbol's first quote) is written as null. */
    static void nullable(RecordConsumer c, String name, int i, double v) {
        if (!Double.isNaN(v)) float64(c, name, i, v);
    }

    static void bool(RecordConsumer c, String name, int i, boolean v) {
        c.startField(name, i);
        c.addBoolean(v);
        c.endField(name, i);
    }

    static void writeTrade(RecordConsumer c, Tick t) {
        string(c, "symbol", 0, t.symbol);
        int64(c, "ts", 1, t.ts);
        float64(c, "price", 2, t.price);
        float64(c, "size", 3, t.size);
        int64(c, "seq", 4, t.seq);
        if (t.correction != 0) int32(c, "correction", 6, t.correction);
    }

    static void writeQuote(RecordConsumer c, Tick t) {
        string(c, "symbol", 0, t.symbol);
        int64(c, "ts", 1, t.ts);
        float64(c, "bid", 2, t.bid);
        float64(c, "ask", 3, t.ask);
        float64(c, "bid_size", 4, t.bidSize);
        float64(c, "ask_size", 5, t.askSize);
        int64(c, "seq", 6, t.seq);
    }

    static void writeBar(RecordConsumer c, Bar b) {
        string(c, "symbol", 0, b.symbol);
        int64(c, "ts", 1, b.end);
        float64(c, "open", 2, b.open);
        float64(c, "high", 3, b.high);
        float64(c, "low", 4, b.low);
        float64(c, "close", 5, b.close);
        float64(c, "volume", 6, b.volume);
        float64(c, "vwap", 7, b.vwap);
        int32(c, "trades", 8, b.trades);
        nullable(c, "bid", 9, b.bid);
        nullable(c, "ask", 10, b.ask);
        nullable(c, "bid_size", 11, b.bidSize);
        nullable(c, "ask_size", 12, b.askSize);
        bool(c, "halted", 13, b.halted);
    }
}
