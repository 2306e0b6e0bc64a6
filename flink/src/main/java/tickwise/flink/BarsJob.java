package tickwise.flink;

import java.io.File;
import java.io.FileOutputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.RuntimeExecutionMode;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.plugin.PluginUtils;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.file.src.FileSource;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.fs.Path;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.CloseableIterator;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * The ticks -> bars job (decision 036).
 *
 * <pre>
 * bounded --trades F [--quotes F] [--status F] --out DIR [--parallelism P]
 *     the job over tick files (Arrow IPC streams, arrival order), finalized once at their end:
 *     DIR/bars.arrow (one Arrow IPC stream) and DIR/rejects.jsonl
 * stream --bootstrap HOST:PORT [--jobmanager HOST:PORT] [--parallelism P] [--savepoint PATH] ...
 *     the tick topics -> the bars topic (exactly once) and the dead-letter topic, on a cluster
 *     (--jobmanager, detached: prints the job id) or a local mini-cluster (blocks)
 * </pre>
 */
public final class BarsJob {
    private BarsJob() {}

    static final Map<String, String> DEFAULTS = Map.ofEntries(
            Map.entry("parallelism", "1"), Map.entry("trades-topic", "ticks.trades"),
            Map.entry("quotes-topic", "ticks.quotes"), Map.entry("status-topic", "ticks.status"),
            Map.entry("bars-topic", "bars.1m"), Map.entry("dead-letter-topic", "ticks.dead"),
            Map.entry("group", "tickwise-flink-bars"), Map.entry("lateness-ms", "2000"),
            Map.entry("idle-ms", "5000"), Map.entry("startup-idle-ms", "30000"), Map.entry("checkpoint-ms", "1000"),
            Map.entry("max-future-ms", "3600000"), Map.entry("transactional-id", "tickwise-bars"));

    public static void main(String[] argv) throws Exception {
        if (argv.length == 0 || !(argv[0].equals("bounded") || argv[0].equals("stream"))) {
            System.err.println("usage: BarsJob bounded|stream --option value ...");
            System.exit(2);
        }
        Map<String, String> a = new HashMap<>(DEFAULTS);
        for (int i = 1; i < argv.length; i += 2) {
            if (!argv[i].startsWith("--") || i + 1 >= argv.length) {
                System.err.println("BarsJob: expected --option value, got " + argv[i]);
                System.exit(2);
            }
            a.put(argv[i].substring(2), argv[i + 1]);
        }
        if (argv[0].equals("bounded")) bounded(a);
        else stream(a);
    }

    static String need(Map<String, String> a, String key) {
        String v = a.get(key);
        if (v == null) {
            System.err.println("BarsJob: --" + key + " is required");
            System.exit(2);
        }
        return v;
    }

    /** A bar or a refused tick: the bounded run's one output, collected by the client. */
    public static class Out {
        public Bar bar;
        public Reject reject;

        public Out() {}
    }

    static void bounded(Map<String, String> a) throws Exception {
        List<Path> files = new ArrayList<>();
        files.add(new Path(new File(need(a, "trades")).getAbsoluteFile().toURI()));
        for (String k : List.of("quotes", "status"))
            if (a.containsKey(k)) files.add(new Path(new File(a.get(k)).getAbsoluteFile().toURI()));
        File out = new File(need(a, "out"));
        Configuration conf = new Configuration();
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setRuntimeMode(RuntimeExecutionMode.STREAMING); // arrival order per symbol; the end of input closes every minute
        env.setParallelism(Integer.parseInt(a.get("parallelism")));
        FileSource<Tick> src = FileSource.forRecordStreamFormat(new ArrowTickFormat(), files.toArray(new Path[0])).build();
        DataStream<Tick> ticks = env.fromSource(src, WatermarkStrategy.noWatermarks(), "tick files");
        SingleOutputStreamOperator<Bar> bars = fold(ticks);
        DataStream<Out> both = bars.map(b -> { Out o = new Out(); o.bar = b; return o; }).returns(Out.class)
                .union(rejects(bars).map(r -> { Out o = new Out(); o.reject = r; return o; }).returns(Out.class));
        List<Bar> got = new ArrayList<>();
        out.mkdirs();
        try (CloseableIterator<Out> it = both.executeAndCollect("tickwise bars (bounded)");
             Writer rej = new OutputStreamWriter(new FileOutputStream(new File(out, "rejects.jsonl")), StandardCharsets.UTF_8)) {
            while (it.hasNext()) {
                Out o = it.next();
                if (o.bar != null) got.add(o.bar);
                else rej.write(rejectJson(o.reject) + "\n");
            }
        }
        try (FileOutputStream f = new FileOutputStream(new File(out, "bars.arrow"))) {
            f.write(TickCodec.encodeBars(got));
        }
        System.out.println("{\"bars\": " + got.size() + "}");
    }

    /** Refused ticks before the fold (what decoding found) and from it (the aggregator's rules). */
    static DataStream<Reject> rejects(SingleOutputStreamOperator<Bar> bars) {
        return bars.getSideOutput(BarFold.REJECTS);
    }

    /** Decoding refusals are rejected here, the rest folded per symbol. */
    static SingleOutputStreamOperator<Bar> fold(DataStream<Tick> ticks) {
        return ticks.keyBy(t -> t.symbol == null ? "" : t.symbol).process(new BarFold()).uid("bar-fold").name("ticks -> bars");
    }

    static void stream(Map<String, String> a) throws Exception {
        String bootstrap = need(a, "bootstrap");
        Configuration conf = new Configuration();
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, Integer.MAX_VALUE);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofSeconds(1));
        if (a.containsKey("checkpoint-dir")) conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, a.get("checkpoint-dir"));
        if (a.containsKey("savepoint")) conf.set(StateRecoveryOptions.SAVEPOINT_PATH, a.get("savepoint"));
        StreamExecutionEnvironment env;
        if (a.containsKey("jobmanager")) {
            String[] hp = a.get("jobmanager").split(":");
            String jar = new File(BarsJob.class.getProtectionDomain().getCodeSource().getLocation().toURI()).getPath();
            env = StreamExecutionEnvironment.createRemoteEnvironment(hp[0], Integer.parseInt(hp[1]), conf, jar);
        } else {
            env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        }
        env.setParallelism(Integer.parseInt(a.get("parallelism")));
        env.setMaxParallelism(128);
        env.enableCheckpointing(Long.parseLong(a.get("checkpoint-ms")), CheckpointingMode.EXACTLY_ONCE);

        long maxFuture = Long.parseLong(a.get("max-future-ms")) * BarFold.NS_PER_MS;
        long lateness = Long.parseLong(a.get("lateness-ms"));
        long idle = Long.parseLong(a.get("idle-ms"));
        long startupIdle = Long.parseLong(a.get("startup-idle-ms"));
        DataStream<Tick> ticks = env.fromSource(
                        source(bootstrap, a.get("group"), Map.of(a.get("trades-topic"), Tick.TRADE, a.get("quotes-topic"), Tick.QUOTE), maxFuture),
                        WatermarkStrategy.<Tick>forGenerator(c -> new TickWatermarks(lateness, idle, startupIdle))
                                .withTimestampAssigner((t, ts) -> t.kind == Tick.BAD ? Long.MIN_VALUE : Math.floorDiv(t.ts, BarFold.NS_PER_MS)),
                        "tick topics").uid("tick-topics");
        DataStream<Tick> status = env.fromSource(
                        source(bootstrap, a.get("group"), Map.of(a.get("status-topic"), Tick.STATUS), maxFuture),
                        WatermarkStrategy.<Tick>forGenerator(c -> new TickWatermarks.Never()),
                        "status topic").uid("status-topic");
        ticks = ticks.union(status);
        SingleOutputStreamOperator<Bar> bars = fold(ticks);
        String txn = a.get("transactional-id");
        bars.transform("bars by minute", TypeInformation.of(BarBatch.class), new MinuteBatcher()).uid("minute-batcher")
                .sinkTo(exactlyOnce(bootstrap, new BatchSerializer(a.get("bars-topic")), txn + "-bars"))
                .uid("bars-topic").name("bars topic");
        rejects(bars).sinkTo(exactlyOnce(bootstrap, new DeadLetterSerializer(a.get("dead-letter-topic")), txn + "-dead"))
                .uid("dead-letter-topic").name("dead-letter topic");
        String lake = a.getOrDefault("lake", "");
        if (lake.startsWith("s3")) s3Client();
        if (!lake.isEmpty()) { // the raw ticks as they arrived (refusals included: the batch path refuses them again) and the bars
            ticks.filter(t -> t.kind == Tick.TRADE).sinkTo(LakeSink.trades(lake)).uid("lake-trades").name("lake: trades");
            ticks.filter(t -> t.kind == Tick.QUOTE).sinkTo(LakeSink.quotes(lake)).uid("lake-quotes").name("lake: quotes");
            bars.sinkTo(LakeSink.bars(lake)).uid("lake-bars").name("lake: bars_1m");
        }
        if (a.containsKey("jobmanager")) {
            JobClient job = env.executeAsync("tickwise bars");
            System.out.println("{\"job_id\": \"" + job.getJobID() + "\"}");
        } else {
            JobExecutionResult r = env.execute("tickwise bars");
            System.out.println("{\"job_id\": \"" + r.getJobID() + "\"}");
        }
    }

    /**
     * The client builds the file sink's serializers, which open its file system: load the S3 plugin
     * ({@code FLINK_PLUGINS_DIR}) here too, with the settings the cluster has ({@code infra/flink.sh}).
     */
    static void s3Client() {
        Map<String, String> env = System.getenv();
        Configuration fs = Configuration.fromMap(Map.of(
                "s3.endpoint", env.getOrDefault("TICKWISE_S3_ENDPOINT", "http://127.0.0.1:19000"),
                "s3.path.style.access", "true",
                "s3.access-key", env.getOrDefault("AWS_ACCESS_KEY_ID", "tickwise"),
                "s3.secret-key", env.getOrDefault("AWS_SECRET_ACCESS_KEY", "tickwise")));
        FileSystem.initialize(fs, PluginUtils.createPluginManagerFromRootFolder(fs));
    }

    /** The topics of ``kinds`` from the group's committed offsets (else the earliest), decoded tick by tick. */
    static KafkaSource<Tick> source(String bootstrap, String group, Map<String, Byte> kinds, long maxFutureNs) {
        return KafkaSource.<Tick>builder()
                .setBootstrapServers(bootstrap)
                .setTopics(new ArrayList<>(kinds.keySet()))
                .setGroupId(group)
                .setStartingOffsets(OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST))
                .setDeserializer(new TickDeserializer(kinds, maxFutureNs))
                .build();
    }

    /** A Kafka sink writing in transactions committed at each checkpoint (consumers read it read_committed). */
    static <T> KafkaSink<T> exactlyOnce(String bootstrap, KafkaRecordSerializationSchema<T> serializer, String txn) {
        return KafkaSink.<T>builder()
                .setBootstrapServers(bootstrap)
                .setRecordSerializer(serializer)
                .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
                .setTransactionalIdPrefix(txn)
                .setProperty("transaction.timeout.ms", "600000")
                .build();
    }

    /** A minute's batch to the partition of its subtask, with the completion facts as headers. */
    static class BatchSerializer implements KafkaRecordSerializationSchema<BarBatch> {
        private final String topic;

        BatchSerializer(String topic) {
            this.topic = topic;
        }

        @Override
        public ProducerRecord<byte[], byte[]> serialize(BarBatch b, KafkaSinkContext ctx, Long timestamp) {
            int[] parts = ctx.getPartitionsForTopic(topic);
            RecordHeaders h = new RecordHeaders();
            h.add(new RecordHeader("minute", Long.toString(b.minute).getBytes(StandardCharsets.UTF_8)));
            h.add(new RecordHeader("watermark", Long.toString(b.watermark).getBytes(StandardCharsets.UTF_8)));
            h.add(new RecordHeader("subtask", Integer.toString(b.subtask).getBytes(StandardCharsets.UTF_8)));
            h.add(new RecordHeader("subtasks", Integer.toString(b.subtasks).getBytes(StandardCharsets.UTF_8)));
            h.add(new RecordHeader("bars", Integer.toString(b.count).getBytes(StandardCharsets.UTF_8)));
            return new ProducerRecord<>(topic, parts[b.subtask % parts.length], null, null, b.payload, h);
        }
    }

    /** A refused tick as the Python scorer's dead-letter record, keyed by its symbol. */
    static class DeadLetterSerializer implements KafkaRecordSerializationSchema<Reject> {
        private final String topic;

        DeadLetterSerializer(String topic) {
            this.topic = topic;
        }

        @Override
        public ProducerRecord<byte[], byte[]> serialize(Reject r, KafkaSinkContext ctx, Long timestamp) {
            byte[] key = r.symbol == null ? null : r.symbol.getBytes(StandardCharsets.UTF_8);
            return new ProducerRecord<>(topic, null, null, key, deadLetter(r).getBytes(StandardCharsets.UTF_8));
        }
    }

    static String rejectJson(Reject r) {
        return "{\"source\": " + TickCodec.quote(r.source) + ", \"symbol\": " + TickCodec.quote(r.symbol)
                + ", \"ts\": " + r.ts + ", \"seq\": " + r.seq + ", \"reason\": " + TickCodec.quote(r.reason)
                + ", \"index\": " + r.index + "}";
    }

    /** The Python scorer's dead-letter body: where the record was, why, and the tick (or the message in base64). */
    static String deadLetter(Reject r) {
        String head = "{\"topic\": " + TickCodec.quote(r.topic) + ", \"partition\": " + r.partition + ", \"offset\": "
                + r.offset + ", \"reason\": " + TickCodec.quote(r.reason);
        if (r.index < 0) return head + ", \"value_b64\": " + TickCodec.quote(r.json) + "}";
        String tick = r.json.isEmpty() ? "null" : r.json;
        return head + ", \"index\": " + r.index + ", \"tick\": " + tick + "}";
    }

}
