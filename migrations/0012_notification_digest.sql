-- Approval requests that arrive while an approver has not read the previous one are
-- gathered into one unread entry; count is how many requests it stands for.
ALTER TABLE "notifications" ADD COLUMN "count" bigint NOT NULL DEFAULT 1;
