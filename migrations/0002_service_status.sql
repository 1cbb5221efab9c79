-- One row per running service instance: its state, what it last measured, its last error.
-- Each process upserts its own row (heartbeat); `artisan status` and the API's health read them.
CREATE TABLE IF NOT EXISTS service_status (
    service     text        NOT NULL,   -- indexer, projections, executor, emitter, api, publisher
    instance    text        NOT NULL,   -- host:pid, or a configured name
    state       text        NOT NULL,   -- starting, running, stopping, stopped, failed
    details     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    last_error  text,
    started_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service, instance)
);
