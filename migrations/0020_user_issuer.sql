-- IdP users are keyed by (issuer, subject): `sub` is unique only within one issuer, so two
-- providers may hand out the same subject to different people (issue 11, domain.md §1.14).
--
-- Rows signed in before this migration have no recorded issuer. They came from the one
-- issuer Shepherd was configured with, which SQL cannot know, so they get a placeholder;
-- at start-up the app hands placeholder rows to the issuer configured then
-- (auth.AdoptUnassignedIdentities, logged at INFO with the count). Until an issuer is
-- configured they simply cannot sign in. Local accounts keep a NULL issuer.

ALTER TABLE "users" ADD COLUMN "issuer" character varying NULL;
UPDATE "users" SET "issuer" = 'urn:shepherd:unassigned-issuer' WHERE "external_id" IS NOT NULL;
DROP INDEX "users_external_id_key";
CREATE UNIQUE INDEX "user_issuer_external_id" ON "users" ("issuer", "external_id");
