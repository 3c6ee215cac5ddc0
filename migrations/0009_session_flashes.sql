-- Flash messages of a signed-in session move out of its data blob into a queue that is
-- appended and taken atomically, so two requests of one session (two tabs) never
-- overwrite each other's messages.
ALTER TABLE "sessions" ADD COLUMN "flashes" jsonb NULL;
