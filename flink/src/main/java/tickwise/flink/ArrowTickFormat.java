package tickwise.flink;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ArrowStreamReader;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.file.src.reader.SimpleStreamFormat;
import org.apache.flink.core.fs.FSDataInputStream;

/**
 * A file of ticks of one kind as one Arrow IPC stream, in arrival order (what {@code tickwise flink bars} writes
 * from the lake): the bounded twin of the tick topics. The kind is the schema's (a {@code price}, {@code bid} or
 * {@code halted} column); each tick's provenance is the file and its row.
 */
public class ArrowTickFormat extends SimpleStreamFormat<Tick> {
    @Override
    public Reader<Tick> createReader(Configuration config, FSDataInputStream stream) throws IOException {
        ArrowStreamReader reader = new ArrowStreamReader(stream, TickCodec.ALLOCATOR);
        VectorSchemaRoot root = reader.getVectorSchemaRoot();
        byte kind = TickCodec.kindOf(root.getSchema());
        if (kind < 0) throw new IOException("not a tick file: no price, bid or halted column in " + root.getSchema());
        try {
            TickCodec.check(kind, root.getSchema());
        } catch (TickCodec.BadPayload e) {
            throw new IOException("not a tick file: " + e.getMessage());
        }
        return new Reader<>() {
            final ArrayDeque<Tick> ready = new ArrayDeque<>();
            int base = 0;

            @Override
            public Tick read() throws IOException {
                while (ready.isEmpty()) {
                    if (!reader.loadNextBatch()) return null;
                    List<Tick> out = new ArrayList<>(root.getRowCount());
                    TickCodec.rows(kind, root, base, "file", 0, 0, out);
                    base += root.getRowCount();
                    ready.addAll(out);
                }
                return ready.poll();
            }

            @Override
            public void close() throws IOException {
                reader.close();
            }
        };
    }

    @Override
    public TypeInformation<Tick> getProducedType() {
        return TypeInformation.of(Tick.class);
    }
}
