"""OpenTelemetry GenAI ingest: OTLP/HTTP spans and logs in, inference events out.

- :mod:`streams.otlp.wire`: request bodies (protobuf or JSON, gzip) to plain dicts;
- :mod:`streams.otlp.genai`: GenAI spans (every generation of the semantic conventions) and
  their correlated log records to inference events (pure functions);
- :mod:`streams.otlp.receiver`: the OTLP/HTTP receiver (``/v1/traces``, ``/v1/logs``) that
  joins spans with their logs within a bounded wait and produces the events.
"""
