package tickwise.flink;

import java.util.Map;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * A tick topic's message -> its ticks (one record each, so the source's per-partition watermark follows the
 * ticks' event times). A refused message or tick comes out as {@link Tick#BAD} with its reason, as does a tick
 * further ahead of the wall clock than {@code maxFutureNs} (judged here, before it could drag the watermark).
 */
public class TickDeserializer implements KafkaRecordDeserializationSchema<Tick> {
    private final Map<String, Byte> kinds;
    private final long maxFutureNs;

    public TickDeserializer(Map<String, Byte> kinds, long maxFutureNs) {
        this.kinds = kinds;
        this.maxFutureNs = maxFutureNs;
    }

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> r, Collector<Tick> out) {
        byte kind = kinds.get(r.topic());
        byte[] value = r.value() == null ? new byte[0] : r.value();
        try {
            long horizon = System.currentTimeMillis() * BarFold.NS_PER_MS + maxFutureNs;
            for (Tick t : TickCodec.decode(kind, value, r.topic(), r.partition(), r.offset())) {
                if (t.kind != Tick.BAD && t.ts > horizon) {
                    t.json = TickCodec.json(t);
                    t.source = t.kind;
                    t.kind = Tick.BAD;
                    t.reason = "far-future timestamp";
                }
                out.collect(t);
            }
        } catch (TickCodec.BadPayload e) {
            out.collect(TickCodec.refused(r.topic(), r.partition(), r.offset(), value, e.getMessage(), kind));
        }
    }

    @Override
    public TypeInformation<Tick> getProducedType() {
        return TypeInformation.of(Tick.class);
    }
}
