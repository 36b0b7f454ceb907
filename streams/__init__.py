"""Everything that touches Kafka or faust: codecs, DLQ, producer SDK, the monitor worker, agents."""
