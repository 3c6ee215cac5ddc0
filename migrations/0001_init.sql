-- Initial schema: generated from ent/schema by 'shepherd migrate diff', then reviewed.

CREATE TABLE "audit_logs" ("id" uuid NOT NULL, "action" character varying NOT NULL, "actor_id" uuid NULL, "actor_name" character varying NOT NULL DEFAULT '', "resource_type" character varying NOT NULL DEFAULT '', "resource_id" character varying NOT NULL DEFAULT '', "resource_name" character varying NOT NULL DEFAULT '', "parent_type" character varying NOT NULL DEFAULT '', "parent_id" character varying NOT NULL DEFAULT '', "environment" character varying NOT NULL DEFAULT '', "details" jsonb NULL, "ip_address" character varying NOT NULL DEFAULT '', "user_agent" character varying NOT NULL DEFAULT '', "request_id" character varying NOT NULL DEFAULT '', "created_at" timestamptz NOT NULL, PRIMARY KEY ("id"));
CREATE INDEX "auditlog_actor_id_created_at" ON "audit_logs" ("actor_id", "created_at");
CREATE INDEX "auditlog_resource_type_resource_id_created_at" ON "audit_logs" ("resource_type", "resource_id", "created_at");
CREATE INDEX "auditlog_action_created_at" ON "audit_logs" ("action", "created_at");
CREATE INDEX "auditlog_created_at" ON "audit_logs" ("created_at");
CREATE TABLE "idp_group_mappings" ("id" uuid NOT NULL, "group_name" character varying NOT NULL, "role_id" uuid NOT NULL, "allowed_environments" jsonb NOT NULL, "created_at" timestamptz NOT NULL, PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "idpgroupmapping_group_name_role_id" ON "idp_group_mappings" ("group_name", "role_id");
CREATE TABLE "roles" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "name" character varying NOT NULL, "description" character varying NOT NULL DEFAULT '', "is_builtin" boolean NOT NULL DEFAULT false, PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "roles_name_key" ON "roles" ("name");
CREATE TABLE "sessions" ("id" character varying NOT NULL, "user_id" uuid NULL, "data" bytea NOT NULL, "created_at" timestamptz NOT NULL, "last_seen_at" timestamptz NOT NULL, "expires_at" timestamptz NOT NULL, "revoked_at" timestamptz NULL, PRIMARY KEY ("id"));
CREATE INDEX "session_user_id" ON "sessions" ("user_id");
CREATE INDEX "session_expires_at" ON "sessions" ("expires_at");
CREATE TABLE "system_secrets" ("id" character varying NOT NULL, "value" bytea NOT NULL, "source" character varying NOT NULL DEFAULT 'db_generated', "created_at" timestamptz NOT NULL, PRIMARY KEY ("id"));
CREATE TABLE "users" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "username" character varying NOT NULL, "email" character varying NOT NULL DEFAULT '', "display_name" character varying NOT NULL DEFAULT '', "auth_type" character varying NOT NULL DEFAULT 'local', "external_id" character varying NULL, "password_hash" character varying NULL, "force_password_change" boolean NOT NULL DEFAULT false, "disabled" boolean NOT NULL DEFAULT false, "last_login_at" timestamptz NULL, PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "users_username_key" ON "users" ("username");
CREATE UNIQUE INDEX "users_external_id_key" ON "users" ("external_id");
CREATE TABLE "role_bindings" ("id" uuid NOT NULL, "scope_type" character varying NOT NULL DEFAULT 'global', "scope_id" character varying NOT NULL DEFAULT '', "allowed_environments" jsonb NOT NULL, "source" character varying NOT NULL DEFAULT 'manual', "created_by" uuid NULL, "created_at" timestamptz NOT NULL, "role_id" uuid NOT NULL, "user_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "role_bindings_roles_bindings" FOREIGN KEY ("role_id") REFERENCES "roles" ("id") ON DELETE NO ACTION, CONSTRAINT "role_bindings_users_role_bindings" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE NO ACTION);
CREATE UNIQUE INDEX "rolebinding_user_id_role_id_scope_type_scope_id" ON "role_bindings" ("user_id", "role_id", "scope_type", "scope_id");
CREATE TABLE "permissions" ("id" character varying NOT NULL, "description" character varying NOT NULL DEFAULT '', PRIMARY KEY ("id"));
CREATE TABLE "role_permissions" ("role_id" uuid NOT NULL, "permission_id" character varying NOT NULL, PRIMARY KEY ("role_id", "permission_id"), CONSTRAINT "role_permissions_role_id" FOREIGN KEY ("role_id") REFERENCES "roles" ("id") ON DELETE CASCADE, CONSTRAINT "role_permissions_permission_id" FOREIGN KEY ("permission_id") REFERENCES "permissions" ("id") ON DELETE CASCADE);
CREATE TABLE "systems" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "name" character varying NOT NULL, "description" text NOT NULL DEFAULT '', "created_by" uuid NULL, "deleted_at" timestamptz NULL, PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "system_name" ON "systems" ("name") WHERE deleted_at IS NULL;
CREATE TABLE "system_members" ("id" uuid NOT NULL, "role" character varying NOT NULL, "granted_by" uuid NULL, "created_at" timestamptz NOT NULL, "system_id" uuid NOT NULL, "user_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "system_members_systems_members" FOREIGN KEY ("system_id") REFERENCES "systems" ("id") ON DELETE NO ACTION, CONSTRAINT "system_members_users_memberships" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE NO ACTION);
CREATE UNIQUE INDEX "systemmember_system_id_user_id" ON "system_members" ("system_id", "user_id");
CREATE INDEX "systemmember_user_id" ON "system_members" ("user_id");

-- Hand-written: the audit log is append-only. Rows can be inserted and read, never changed
-- or removed by the application; archiving is a separate, audited admin job.
CREATE FUNCTION audit_logs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_logs is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_logs_no_update_delete
  BEFORE UPDATE OR DELETE ON audit_logs
  FOR EACH ROW EXECUTE FUNCTION audit_logs_append_only();
CREATE TRIGGER audit_logs_no_truncate
  BEFORE TRUNCATE ON audit_logs
  FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_append_only();
