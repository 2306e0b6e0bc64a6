"""tickwise serving: where a tick goes, one folder per role.

    feed/       what arrives: the Kafka wire codec (batched Arrow IPC) and the vendor message parsers
    io/         sources (Kafka ticks, a lake day, a lake's bars, lists) and outputs (online store, signal sink,
                shadow log, dead letters, checkpoints), each an interface with its implementations
    step/       the pure step: ticks -> closed 1-minute bars (ingest) -> features and signals (scorer); no I/O
    inference/  the champion as a compiled forest, lleaves or LightGBM, chosen and swapped by ModelRuntime
    app/        the one loop that assembles them (loop.py), serve's wiring, settings, HTTP, alerts, hot reload

Benchmarks and the stream publisher are tools outside the runtime (``tickwise/tools``). Import-linter contracts
keep ``step``, ``feed`` and ``inference`` free of servers' clients and of ``io``, and nothing below ``app``
imports it.
"""
