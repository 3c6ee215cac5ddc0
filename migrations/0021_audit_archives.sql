-- Audit retention (internal/audit/retention.go): rows older than their retention period
-- move, a chunk per transaction, into audit_archives as gzip-compressed JSON Lines, with
-- an audit row recording the move.
CREATE TABLE "audit_archives" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "first_at" timestamptz NOT NULL, "last_at" timestamptz NOT NULL, "row_count" bigint NOT NULL, "classes" jsonb NOT NULL, "sha256" character varying NOT NULL, "size_bytes" bigint NOT NULL, "content" bytea NOT NULL, PRIMARY KEY ("id"));
CREATE INDEX "auditarchive_created_at" ON "audit_archives" ("created_at");
CREATE INDEX "auditarchive_first_at" ON "audit_archives" ("first_at");

-- Hand-written: audit_logs stays append-only for everything except the retention job,
-- which marks its own transaction (SET LOCAL shepherd.audit_retention = 'archive') and
-- deletes only rows it has just stored in an archive, auditing the move in the same
-- transaction. UPDATE and TRUNCATE remain refused for everyone.
CREATE OR REPLACE FUNCTION audit_logs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('shepherd.audit_retention', true) = 'archive' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_logs is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;

-- Archives are kept until the retention job's own expiry (SHEPHERD_AUDIT_ARCHIVE_KEEP_DAYS)
-- deletes them, again with an audit row; nothing else changes them.
CREATE FUNCTION audit_archives_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('shepherd.audit_retention', true) = 'expire' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_archives are kept as written: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_archives_no_update_delete
  BEFORE UPDATE OR DELETE ON audit_archives
  FOR EACH ROW EXECUTE FUNCTION audit_archives_immutable();
CREATE TRIGGER audit_archives_no_truncate
  BEFORE TRUNCATE ON audit_archives
  FOR EACH STATEMENT EXECUTE FUNCTION audit_archives_immutable();
