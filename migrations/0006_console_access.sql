-- Generated from ent/schema by `shepherd migrate diff`; review before committing.

CREATE TABLE "console_grants" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "vm_id" uuid NOT NULL, "user_id" uuid NOT NULL, "ticket_id" uuid NOT NULL, "granted_by" character varying NOT NULL, "starts_at" timestamptz NOT NULL, "expires_at" timestamptz NOT NULL, "revoked_at" timestamptz NULL, "revoked_by" character varying NOT NULL DEFAULT '', "revoke_reason" character varying NOT NULL DEFAULT '', PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "console_grants_ticket_id_key" ON "console_grants" ("ticket_id");
CREATE INDEX "consolegrant_vm_id_user_id_expires_at" ON "console_grants" ("vm_id", "user_id", "expires_at");
CREATE INDEX "consolegrant_expires_at" ON "console_grants" ("expires_at");
CREATE TABLE "console_sessions" ("id" uuid NOT NULL, "ticket_id" uuid NOT NULL, "user_id" uuid NOT NULL, "user_name" character varying NOT NULL, "vm_id" uuid NOT NULL, "vm_name" character varying NOT NULL, "environment" character varying NOT NULL, "cluster_id" uuid NOT NULL, "grant_id" uuid NULL, "client_ip" character varying NOT NULL DEFAULT '', "replica" character varying NOT NULL DEFAULT '', "opened_at" timestamptz NOT NULL, "ends_at" timestamptz NOT NULL, "closed_at" timestamptz NULL, "bytes_to_vm" bigint NOT NULL DEFAULT 0, "bytes_from_vm" bigint NOT NULL DEFAULT 0, "close_reason" character varying NOT NULL DEFAULT '', "revoked_at" timestamptz NULL, "revoked_by" character varying NOT NULL DEFAULT '', "revoke_reason" character varying NOT NULL DEFAULT '', PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "console_sessions_ticket_id_key" ON "console_sessions" ("ticket_id");
CREATE INDEX "consolesession_vm_id_opened_at" ON "console_sessions" ("vm_id", "opened_at");
CREATE INDEX "consolesession_user_id_opened_at" ON "console_sessions" ("user_id", "opened_at");
CREATE INDEX "consolesession_live" ON "console_sessions" ("closed_at") WHERE closed_at IS NULL;
CREATE TABLE "console_tickets" ("id" uuid NOT NULL, "token_hash" bytea NOT NULL, "user_id" uuid NOT NULL, "vm_id" uuid NOT NULL, "grant_id" uuid NULL, "take_over" boolean NOT NULL DEFAULT false, "created_at" timestamptz NOT NULL, "expires_at" timestamptz NOT NULL, "session_ends_at" timestamptz NOT NULL, "consumed_at" timestamptz NULL, PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "console_tickets_token_hash_key" ON "console_tickets" ("token_hash");
CREATE INDEX "consoleticket_expires_at" ON "console_tickets" ("expires_at");
