-- 0003: a tenant's stored bytes include its documents' metadata (issue 16; the embedded schema's
-- migration 8): without it, tiny files with large metadata grew the database past any quota.
-- metadata_bytes is the UTF-8 length of the metadata JSON as the client sent it (what SQLite
-- stores and counts); jsonb's own text form spaces it differently, so it is recorded, not derived.
-- Rows written before this file get jsonb's length, the nearest measure they still have.
ALTER TABLE documents ADD COLUMN metadata_bytes integer NOT NULL DEFAULT 0;
UPDATE documents SET metadata_bytes = octet_length(metadata::text);

CREATE OR REPLACE FUNCTION ragd_documents_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO tenant_usage (tenant_id, documents, bytes) VALUES (NEW.tenant_id, 1, NEW.bytes + NEW.metadata_bytes)
      ON CONFLICT (tenant_id) DO UPDATE
      SET documents = tenant_usage.documents + 1, bytes = tenant_usage.bytes + NEW.bytes + NEW.metadata_bytes;
    RETURN NEW;
  END IF;
  UPDATE tenant_usage SET documents = documents - 1, bytes = bytes - OLD.bytes - OLD.metadata_bytes WHERE tenant_id = OLD.tenant_id;
  RETURN OLD;
END $$;

UPDATE tenant_usage u SET bytes = coalesce((SELECT sum(d.bytes + d.metadata_bytes) FROM documents d WHERE d.tenant_id = u.tenant_id), 0);
