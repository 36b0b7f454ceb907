-- PII found in the model's response, apart from the prompt's: a user pasting their own
-- e-mail address is normal, a model answering with someone's is a leak (the quality SLI
-- `response_pii_count` of infra/config/slos.yaml). pii_count keeps counting both.
ALTER TABLE {database}.events {on_cluster}
    ADD COLUMN IF NOT EXISTS response_pii_count UInt16 DEFAULT 0 AFTER pii_count;

-- A view's columns are fixed when it is created: recreate it so it shows the new column.
CREATE OR REPLACE VIEW {database}.events_dedup {on_cluster} AS
SELECT * FROM {database}.events FINAL;
