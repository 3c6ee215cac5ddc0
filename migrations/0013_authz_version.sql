-- What a user may do is cached per process (the resolved principal) and checked against
-- users.authz_version on every request. Triggers bump it in the transaction that changes
-- anything the principal is built from, so a revocation takes effect on the next request
-- on every replica.
ALTER TABLE "users" ADD COLUMN "authz_version" bigint NOT NULL DEFAULT 0;

-- Role bindings and System memberships: the user they name (before and after).
CREATE FUNCTION shepherd_authz_bump_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    UPDATE users SET authz_version = authz_version + 1 WHERE id = OLD.user_id;
  END IF;
  IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.user_id IS DISTINCT FROM OLD.user_id) THEN
    UPDATE users SET authz_version = authz_version + 1 WHERE id = NEW.user_id;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER role_bindings_authz AFTER INSERT OR UPDATE OR DELETE ON role_bindings
  FOR EACH ROW EXECUTE FUNCTION shepherd_authz_bump_user();
CREATE TRIGGER system_members_authz AFTER INSERT OR UPDATE OR DELETE ON system_members
  FOR EACH ROW EXECUTE FUNCTION shepherd_authz_bump_user();

-- A System renamed or deleted: its members.
CREATE FUNCTION shepherd_authz_bump_system() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE users SET authz_version = authz_version + 1
    WHERE id IN (SELECT user_id FROM system_members WHERE system_id = NEW.id);
  RETURN NULL;
END $$;
CREATE TRIGGER systems_authz AFTER UPDATE ON systems
  FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at)
  EXECUTE FUNCTION shepherd_authz_bump_system();

-- A role's name or permissions (rare: administration): everyone holding it.
CREATE FUNCTION shepherd_authz_bump_role() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    UPDATE users SET authz_version = authz_version + 1
      WHERE id IN (SELECT user_id FROM role_bindings WHERE role_id = OLD.role_id);
  END IF;
  IF TG_OP <> 'DELETE' THEN
    UPDATE users SET authz_version = authz_version + 1
      WHERE id IN (SELECT user_id FROM role_bindings WHERE role_id = NEW.role_id);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER role_permissions_authz AFTER INSERT OR UPDATE OR DELETE ON role_permissions
  FOR EACH ROW EXECUTE FUNCTION shepherd_authz_bump_role();

CREATE FUNCTION shepherd_authz_bump_role_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE users SET authz_version = authz_version + 1
    WHERE id IN (SELECT user_id FROM role_bindings WHERE role_id = NEW.id);
  RETURN NULL;
END $$;
CREATE TRIGGER roles_authz AFTER UPDATE ON roles
  FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
  EXECUTE FUNCTION shepherd_authz_bump_role_row();
