package tickwise.flink;

/** A finalized 1-minute bar: {@code end} is the bar's stamp (the minute's end, epoch ns). NBBO fields are NaN
 * when the symbol has had no quote yet. */
public class Bar {
    public String symbol;
    public long end;
    public double open, high, low, close, volume, vwap;
    public int trades;
    public double bid = Double.NaN, ask = Double.NaN, bidSize = Double.NaN, askSize = Double.NaN;
    public boolean halted;

    public Bar() {}
}
