-- 0002: OCR (issue 22), the embedded schema's migration 7. A KB's default OCR mode; a document's
-- mode and what was OCR'd (a DocumentOcr as JSON); an OCR'd chunk's engine confidence (NULL for
-- text that came from a text layer). double precision, not real: SQLite's REAL is a double, and
-- both stores must hand back the same number.
ALTER TABLE kbs ADD COLUMN ocr text NOT NULL DEFAULT 'auto';
ALTER TABLE documents ADD COLUMN ocr jsonb NOT NULL DEFAULT '{"mode":"auto"}';
ALTER TABLE chunks ADD COLUMN ocr_confidence double precision;

-- A document being OCR'd ('recognizing') is pending too: the partial index that counts pending
-- documents must cover it, or the planner cannot use it for the new status list.
DROP INDEX documents_pending;
CREATE INDEX documents_pending ON documents (tenant_id, kb_id)
  WHERE status IN ('queued', 'parsing', 'recognizing', 'chunking', 'embedding', 'indexing');
