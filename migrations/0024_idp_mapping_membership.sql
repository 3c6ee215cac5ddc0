-- An IdP group mapping may also make the group's users members of a System (both columns
-- or neither), and a System membership records where it came from so the ones mappings
-- made can be rebuilt at sign-in without touching those granted by hand.
ALTER TABLE "idp_group_mappings" ADD COLUMN "system_id" uuid NULL, ADD COLUMN "member_role" character varying NULL;
ALTER TABLE "system_members" ADD COLUMN "source" character varying NOT NULL DEFAULT 'manual';
