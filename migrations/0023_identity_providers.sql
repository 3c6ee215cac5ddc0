-- Identity providers added in the portal, per-provider group mappings with a version for
-- optimistic edits, the groups sign-ins delivered lately, and each IdP user's latest
-- groups (for "Re-evaluate signed-in users").

-- Existing mappings belong to the provider configured from settings ("default").
ALTER TABLE "idp_group_mappings" ADD COLUMN "provider" character varying NOT NULL DEFAULT 'default', ADD COLUMN "version" bigint NOT NULL DEFAULT 1, ADD COLUMN "updated_at" timestamptz NOT NULL DEFAULT now();
ALTER TABLE "idp_group_mappings" ALTER COLUMN "updated_at" DROP DEFAULT;
DROP INDEX IF EXISTS "idpgroupmapping_group_name_role_id";
CREATE UNIQUE INDEX "idpgroupmapping_provider_group_name_role_id" ON "idp_group_mappings" ("provider", "group_name", "role_id");
CREATE TABLE "idp_seen_groups" ("id" uuid NOT NULL, "provider" character varying NOT NULL, "group_name" character varying NOT NULL, "first_seen_at" timestamptz NOT NULL, "last_seen_at" timestamptz NOT NULL, PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "idpseengroup_provider_group_name" ON "idp_seen_groups" ("provider", "group_name");
CREATE TABLE "idp_user_groups" ("id" uuid NOT NULL, "provider" character varying NOT NULL, "groups" jsonb NOT NULL, "signed_in_at" timestamptz NOT NULL, PRIMARY KEY ("id"));
CREATE TABLE "identity_providers" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "key" character varying NOT NULL, "label" character varying NOT NULL, "issuer" character varying NOT NULL, "client_id" character varying NOT NULL, "client_secret_sealed" character varying NOT NULL DEFAULT '', "scopes" jsonb NOT NULL, "groups_claim" character varying NOT NULL DEFAULT 'groups', "enabled" boolean NOT NULL DEFAULT true, "version" bigint NOT NULL DEFAULT 1, "created_by" uuid NULL, PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "identity_providers_key_key" ON "identity_providers" ("key");
CREATE UNIQUE INDEX "identity_providers_issuer_key" ON "identity_providers" ("issuer");
