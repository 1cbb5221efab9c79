-- The Postgres schema of Artisan: the event store and the projections, whole and current.
-- A new database gets this file; an existing one gets the numbered files in migrations/
-- (artisan/storage/migrations.py). A change goes into both: a new migration, and the same
-- change here; tests/storage/test_storage_migrations.py holds the two equal.

CREATE TABLE IF NOT EXISTS schema_info (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- ---------------------------------------------------------------------------------------------
-- Event store (indexer). Hashes and addresses are lowercase 0x-hex text in the "C" collation
-- (bytewise comparison: index upkeep on them is the bulk of an insert); big integers inside
-- `args` are decimal strings, so nothing loses precision on the way to JSON.
-- ---------------------------------------------------------------------------------------------

-- One row per reorganization the indexer followed: the permanent record of what was orphaned.
CREATE TABLE IF NOT EXISTS reorgs (
    id                 bigserial   PRIMARY KEY,
    chain_id           bigint      NOT NULL,
    ancestor_number    bigint      NOT NULL,           -- last block both branches share
    ancestor_hash      text,                           -- NULL: the fork is below the start block
    depth              integer     NOT NULL,           -- old tip number - ancestor number
    old_tip_number     bigint      NOT NULL,
    orphaned_hashes    text[]      NOT NULL,
    detected_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS reorgs_chain ON reorgs (chain_id, id);

-- Block headers the indexer has seen: every block of the unfinalized window (so a fork can be
-- traced to its common ancestor) and, below it, the blocks that hold events. A block orphaned
-- by a reorg keeps its row with `orphaned_by` set; if its branch wins again later the row is
-- re-adopted and `incarnation` counts up, so its events are stored afresh (see events).
CREATE TABLE IF NOT EXISTS blocks (
    chain_id     bigint  NOT NULL,
    hash         text    COLLATE "C" NOT NULL,
    number       bigint  NOT NULL,
    parent_hash  text    COLLATE "C" NOT NULL,
    timestamp    bigint  NOT NULL,
    finalized    boolean NOT NULL DEFAULT false,
    orphaned_by  bigint  REFERENCES reorgs (id),
    incarnation  integer NOT NULL DEFAULT 0,
    PRIMARY KEY (chain_id, hash)
);
-- One canonical block per height.
CREATE UNIQUE INDEX IF NOT EXISTS blocks_canonical
    ON blocks (chain_id, number) WHERE orphaned_by IS NULL;
CREATE INDEX IF NOT EXISTS blocks_unfinalized
    ON blocks (chain_id, number) WHERE NOT finalized AND orphaned_by IS NULL;

-- The append-only event store. `position` is global and, with one writer per chain under an
-- advisory lock, follows commit order. Rows are never updated or deleted: a reorg appends to
-- event_removals instead. `incarnation` is that of the block when the row was written, so a
-- block whose branch is orphaned and later re-adopted gets its events again at new positions
-- while (chain_id, block_hash, log_index) stays unique per incarnation.
CREATE TABLE IF NOT EXISTS events (
    position         bigserial PRIMARY KEY,
    chain_id         bigint    NOT NULL,
    block_number     bigint    NOT NULL,
    block_hash       text      COLLATE "C" NOT NULL,
    block_timestamp  bigint    NOT NULL,
    tx_hash          text      COLLATE "C" NOT NULL,
    tx_index         integer   NOT NULL,
    log_index        integer   NOT NULL,
    address          text      COLLATE "C" NOT NULL,
    event_name       text      COLLATE "C",  -- NULL: no ABI in the indexer matched this log
    args             jsonb,                -- NULL with event_name
    topics           text[]    NOT NULL,
    data             text      NOT NULL,
    incarnation      integer   NOT NULL DEFAULT 0,
    UNIQUE (chain_id, block_hash, log_index, incarnation)
);
CREATE INDEX IF NOT EXISTS events_name ON events (event_name, position);
-- The API's signed requests (RequestSigned events, artisan/indexer/requests.py) by id.
CREATE INDEX IF NOT EXISTS events_request_id ON events ((args->>'executionId'))
    WHERE event_name = 'RequestSigned';

-- The changes a table had counted when it was last analysed by us (artisan/storage/statistics.py).
CREATE TABLE IF NOT EXISTS statistics_marks (
    relname  text   PRIMARY KEY,
    changes  bigint NOT NULL
);

-- Events of orphaned blocks, each removed once, by the reorg that orphaned it.
CREATE TABLE IF NOT EXISTS event_removals (
    position  bigint PRIMARY KEY REFERENCES events (position),
    reorg_id  bigint NOT NULL REFERENCES reorgs (id)
);
CREATE INDEX IF NOT EXISTS event_removals_reorg ON event_removals (reorg_id);

-- What readers query: the events on the canonical chain, in position (= chain) order.
CREATE OR REPLACE VIEW live_events AS
    SELECT e.* FROM events e
    WHERE NOT EXISTS (SELECT 1 FROM event_removals r WHERE r.position = e.position);

-- How far each chain is indexed: written in the same transaction as the events it covers.
CREATE TABLE IF NOT EXISTS indexer_checkpoints (
    chain_id      bigint      PRIMARY KEY,
    block_number  bigint      NOT NULL,
    block_hash    text,                     -- NULL: nothing indexed yet (start block - 1)
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------------------------
-- Projections (artisan/projections). Read models rebuilt by replaying live_events.
-- Rows that change keep their versions as block ranges [first block, superseding block), as
-- graph-node does, so that any of them reads as of a block and a reorg reverts by deleting and
-- reopening versions. Append-only rows carry their block. Nothing here holds a store position:
-- positions differ between a store that followed reorgs and one that did not, rows must not.
-- The exclusion constraints (no two versions of a key overlap) need equality on the key inside
-- a GiST index. btree_gist would give it, but the embedded pgserver build does not ship it;
-- so each version is a box: x = the key (a single point), y = its blocks [lower, upper - 1]
-- (to 2^53 while open). Two boxes overlap exactly when the key is the same and the ranges
-- overlap; geometric GiST inserts ran about three times faster than a range-pair index here.
-- Keys and blocks stay far below 2^53, where float8 is exact. The open end is 2^53, not
-- infinity: with infinite edges the index's area penalties are infinite or NaN, it can no
-- longer tell subtrees apart, and inserting a replay's versions cost two to three times the
-- CPU. A text key part uses a single-value textrange. Hex text is COLLATE "C", as in the
-- event store.
-- ---------------------------------------------------------------------------------------------

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'textrange') THEN
        CREATE TYPE textrange AS RANGE (subtype = text, collation = "C");
    END IF;
END
$$;

-- Each projection's position in the event store, written in the same transaction as its rows.
CREATE TABLE IF NOT EXISTS projection_tracking (
    name           text        PRIMARY KEY,
    chain_id       bigint      NOT NULL,
    last_position  bigint      NOT NULL,   -- last event position applied
    last_reorg_id  bigint      NOT NULL,   -- newest reorg already reverted (0: none)
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Reader-only indexes that a replay from the first event dropped, with the statements that
-- build them again once it reaches the head (artisan/projections/bulk.py). Usually empty.
CREATE TABLE IF NOT EXISTS projection_deferred_indexes (
    index_name  text PRIMARY KEY,
    projection  text NOT NULL,
    definition  text NOT NULL
);

-- models: the terms of every model, versioned.
CREATE TABLE IF NOT EXISTS proj_models (
    model_id         bigint    NOT NULL,
    cid              text COLLATE "C"      NOT NULL,
    owner            text COLLATE "C"      NOT NULL,
    parent_id        bigint    NOT NULL,
    depth            smallint  NOT NULL,
    size_class       smallint  NOT NULL,
    kind             smallint  NOT NULL,
    access           smallint  NOT NULL,
    pricing_kind     smallint  NOT NULL,
    fixed_price      numeric   NOT NULL,
    thresholds       numeric[] NOT NULL,
    prices           numeric[] NOT NULL,
    remix_allowed    boolean   NOT NULL,
    remix_share_bps  integer   NOT NULL,
    dao_treasury     text COLLATE "C"      NOT NULL,
    dao_share_bps    integer   NOT NULL,
    registered_block bigint    NOT NULL,   -- where ModelRegistered is: block, log, transaction
    registered_log   integer   NOT NULL,
    registered_tx    text COLLATE "C" NOT NULL,
    block_range      int8range NOT NULL,
    EXCLUDE USING gist (
        box(point(model_id, lower(block_range)),
            point(model_id, coalesce(upper(block_range) - 1, 9007199254740992::float8))) WITH &&)
);
CREATE INDEX IF NOT EXISTS proj_models_open ON proj_models (model_id) WHERE upper_inf(block_range);
CREATE INDEX IF NOT EXISTS proj_models_lower ON proj_models (lower(block_range));
-- one model's version at a block (the API reads models by id as of a block)
CREATE INDEX IF NOT EXISTS proj_models_versions ON proj_models (model_id, lower(block_range));
CREATE INDEX IF NOT EXISTS proj_models_upper ON proj_models (upper(block_range));

-- models: allowlist grants, versioned (granted false after a revocation).
CREATE TABLE IF NOT EXISTS proj_model_access (
    model_id     bigint    NOT NULL,
    account      text COLLATE "C"      NOT NULL,
    granted      boolean   NOT NULL,
    block_range  int8range NOT NULL,
    EXCLUDE USING gist (
        box(point(model_id, lower(block_range)),
            point(model_id, coalesce(upper(block_range) - 1, 9007199254740992::float8))) WITH &&,
        textrange(account, account, '[]') WITH &&)
);
CREATE INDEX IF NOT EXISTS proj_model_access_open
    ON proj_model_access (model_id, account) WHERE upper_inf(block_range);
CREATE INDEX IF NOT EXISTS proj_model_access_lower ON proj_model_access (lower(block_range));
CREATE INDEX IF NOT EXISTS proj_model_access_upper ON proj_model_access (upper(block_range));

-- executions: one row per InferenceExecuted, with its proof (block, hash, transaction, log)
-- and its Settlement credits in emission order (the ledger emits them in the execution's
-- transaction, right after it). Kept as arrays in the row: an auditor reads them together,
-- and replay writes one row per execution instead of five.
CREATE TABLE IF NOT EXISTS proj_executions (
    execution_id       text COLLATE "C" PRIMARY KEY,
    model_id           bigint           NOT NULL,
    user_address       text COLLATE "C" NOT NULL,
    operator           text COLLATE "C" NOT NULL,
    input_digest       text COLLATE "C" NOT NULL,
    output_digest      text COLLATE "C" NOT NULL,
    params_hash        text COLLATE "C" NOT NULL,
    priority           smallint         NOT NULL,
    input_units        numeric          NOT NULL,
    gpu_micros         numeric          NOT NULL,
    latency_micros     numeric          NOT NULL,
    storage_bytes      numeric          NOT NULL,
    concurrent_load    bigint           NOT NULL,
    cost               numeric          NOT NULL,
    rates_version      bigint           NOT NULL,
    block_number       bigint           NOT NULL,
    block_hash         text COLLATE "C" NOT NULL,
    block_timestamp    bigint           NOT NULL,
    tx_hash            text COLLATE "C" NOT NULL,
    log_index          integer          NOT NULL,
    credit_recipients  text[] COLLATE "C" NOT NULL,
    credit_roles       smallint[]       NOT NULL,  -- 0 CREATOR, 1 OPERATOR, 2 TREASURY, 3 DAO,
                                                   -- 4 REMIX_ANCESTOR
    credit_amounts     numeric[]        NOT NULL
);
CREATE INDEX IF NOT EXISTS proj_executions_block ON proj_executions (block_number);
CREATE INDEX IF NOT EXISTS proj_executions_model ON proj_executions (model_id, block_number);
CREATE INDEX IF NOT EXISTS proj_executions_input ON proj_executions (input_digest);
-- an account's executions, newest first (the API's Account.executions, `where: {user}`)
CREATE INDEX IF NOT EXISTS proj_executions_user ON proj_executions (user_address, block_number);
CREATE INDEX IF NOT EXISTS proj_executions_output
    ON proj_executions (output_digest, block_number, log_index);

-- executions: Rated events whose execution id matches an execution (the others are ignored).
CREATE TABLE IF NOT EXISTS proj_ratings (
    execution_id  text COLLATE "C" PRIMARY KEY,
    model_id      bigint           NOT NULL,   -- the rated execution's model
    user_address  text COLLATE "C" NOT NULL,
    rating        smallint         NOT NULL,
    block_number  bigint           NOT NULL,
    log_index     integer          NOT NULL,
    tx_hash       text COLLATE "C" NOT NULL
);
CREATE INDEX IF NOT EXISTS proj_ratings_block ON proj_ratings (block_number);

-- Every credit of every execution, one row each.
CREATE OR REPLACE VIEW execution_settlements AS
    SELECT x.execution_id, x.block_number, c.ord AS credit_index, c.recipient, c.role, c.amount
    FROM proj_executions x
    CROSS JOIN LATERAL unnest(x.credit_recipients, x.credit_roles, x.credit_amounts)
        WITH ORDINALITY AS c (recipient, role, amount, ord);

-- The execution trail an auditor reads: the execution, its credits by role, its rating.
CREATE OR REPLACE VIEW execution_trails AS
    SELECT x.*,
           coalesce(s.creator, 0) AS creator_amount,
           coalesce(s.operator_cut, 0) AS operator_amount,
           coalesce(s.treasury, 0) AS treasury_amount,
           coalesce(s.dao, 0) AS dao_amount,
           coalesce(s.ancestors, 0) AS remix_ancestors_amount,
           r.rating
    FROM proj_executions x
    LEFT JOIN LATERAL (
        SELECT sum(c.amount) FILTER (WHERE c.role = 0) AS creator,
               sum(c.amount) FILTER (WHERE c.role = 1) AS operator_cut,
               sum(c.amount) FILTER (WHERE c.role = 2) AS treasury,
               sum(c.amount) FILTER (WHERE c.role = 3) AS dao,
               sum(c.amount) FILTER (WHERE c.role = 4) AS ancestors
        FROM unnest(x.credit_roles, x.credit_amounts) AS c (role, amount)
    ) s ON true
    LEFT JOIN proj_ratings r ON r.execution_id = x.execution_id;

-- curation: every signal, versioned (active false once unsignaled). `weight` is
-- kindWeight * isqrt(amount), computed exactly when the signal is projected.
CREATE TABLE IF NOT EXISTS proj_signals (
    signal_id     bigint    NOT NULL,
    curator       text COLLATE "C"      NOT NULL,
    target_kind   smallint  NOT NULL,   -- 0 MODEL (target = decimal model id), 1 ASSET
    target        text COLLATE "C"      NOT NULL,
    kind          smallint  NOT NULL,   -- 0 LIKE, 1 STAR, 2 FORK, 3 CITE
    amount        numeric   NOT NULL,
    weight        numeric   NOT NULL,
    signal_block  bigint    NOT NULL,   -- where Signaled is: block, log, transaction
    signal_log    integer   NOT NULL,
    signal_tx     text COLLATE "C" NOT NULL,
    active        boolean   NOT NULL,
    block_range   int8range NOT NULL,
    EXCLUDE USING gist (
        box(point(signal_id, lower(block_range)),
            point(signal_id, coalesce(upper(block_range) - 1, 9007199254740992::float8))) WITH &&)
);
CREATE INDEX IF NOT EXISTS proj_signals_open ON proj_signals (signal_id) WHERE upper_inf(block_range);
CREATE INDEX IF NOT EXISTS proj_signals_target ON proj_signals (target_kind, target);
CREATE INDEX IF NOT EXISTS proj_signals_lower ON proj_signals (lower(block_range));
CREATE INDEX IF NOT EXISTS proj_signals_upper ON proj_signals (upper(block_range));

-- balances: per account, the ledger's escrow (escrowOf) and pull-payment credits (owed), the
-- pending withdrawal request (pendingWithdrawal), and the running totals spent and earned;
-- versioned (docs/REWARDS.md, "Balances").
-- Every execution moves the balances of its user, operator, treasury and creators, so this
-- table takes an order of magnitude more versions than the others (about 380,000 per million
-- events). A GiST exclusion costs about 30 us per version here, 11 s per million-event replay,
-- so the invariant is held by btree indexes instead: one open version per account, and one
-- version per (account, first block); an account's open version is closed at its first new
-- block before the new versions go in, so versions tile (tests check it).
CREATE TABLE IF NOT EXISTS proj_balances (
    account             text COLLATE "C" NOT NULL,
    escrow              numeric  NOT NULL,
    owed                numeric  NOT NULL,
    pending_withdrawal  numeric  NOT NULL,
    unlock_at           bigint   NOT NULL,
    spent               numeric  NOT NULL,
    earned              numeric  NOT NULL,
    block_range         int8range NOT NULL
        CHECK (NOT isempty(block_range) AND NOT lower_inf(block_range))
);
CREATE UNIQUE INDEX IF NOT EXISTS proj_balances_open
    ON proj_balances (account) WHERE upper_inf(block_range);
CREATE UNIQUE INDEX IF NOT EXISTS proj_balances_versions
    ON proj_balances (account, lower(block_range));
CREATE INDEX IF NOT EXISTS proj_balances_upper ON proj_balances (upper(block_range));

-- lineage: the edges an auditor walks from an output back to its origins, and on from an input
-- to what was made from it (artisan/projections/lineage.py). Nodes: asset (0x digest),
-- execution (0x id), model (decimal id), account. `input` asset -> execution, `output`
-- execution -> asset, `model` model -> execution, `feeds` the first earlier execution (chain
-- order) whose output is an execution's input -> that execution, `remix` parent model -> model,
-- `cite` curator -> asset or model of a CITE signal. Each edge sits at the (block, log) of the
-- event that made it; indexed by source and by destination, so a walk either way is an index
-- lookup per step. The output edges alone are indexed by destination once more: the projection
-- finds a feeds edge's producer there, and a replay keeps only that third of the destination
-- index up to date while the whole one waits for its end (artisan/projections/bulk.py).
CREATE TABLE IF NOT EXISTS proj_lineage_edges (
    block_number  bigint           NOT NULL,
    log_index     integer          NOT NULL,
    relation      text COLLATE "C" NOT NULL,
    src_kind      text COLLATE "C" NOT NULL,
    src           text COLLATE "C" NOT NULL,
    dst_kind      text COLLATE "C" NOT NULL,
    dst           text COLLATE "C" NOT NULL,
    tx_hash       text COLLATE "C" NOT NULL,
    PRIMARY KEY (block_number, log_index, relation)
);
CREATE INDEX IF NOT EXISTS proj_lineage_edges_dst
    ON proj_lineage_edges (dst, block_number, log_index);
CREATE INDEX IF NOT EXISTS proj_lineage_edges_src
    ON proj_lineage_edges (src, block_number, log_index);
CREATE INDEX IF NOT EXISTS proj_lineage_edges_producers
    ON proj_lineage_edges (dst, block_number, log_index) WHERE relation = 'output';
-- The name readers used when the edges were a view over the other projections.
DROP VIEW IF EXISTS lineage_edges;
CREATE VIEW lineage_edges AS SELECT * FROM proj_lineage_edges;

-- usage: executions, fees and GPU time per (block, model, user), with the block's hour (unix
-- seconds, floored): the rows time series aggregate (artisan/projections/usage.py). Per block,
-- so that a reorg removes exactly what the replaced blocks added.
CREATE TABLE IF NOT EXISTS proj_usage (
    block_number  bigint           NOT NULL,
    model_id      bigint           NOT NULL,
    user_address  text COLLATE "C" NOT NULL,
    hour          bigint           NOT NULL,
    executions    integer          NOT NULL,
    fees          numeric          NOT NULL,
    gpu_micros    numeric          NOT NULL,
    PRIMARY KEY (block_number, model_id, user_address)
);
CREATE INDEX IF NOT EXISTS proj_usage_hour ON proj_usage (hour);
CREATE INDEX IF NOT EXISTS proj_usage_model_hour ON proj_usage (model_id, hour);
CREATE INDEX IF NOT EXISTS proj_usage_user_hour ON proj_usage (user_address, hour);

-- rewards: epochs published on chain and the claims made against them.
CREATE TABLE IF NOT EXISTS proj_epochs_published (
    epoch         numeric PRIMARY KEY,
    from_block    bigint  NOT NULL,
    to_block      bigint  NOT NULL,
    total         numeric NOT NULL,
    root          text COLLATE "C"    NOT NULL,
    block_number  bigint  NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       text COLLATE "C"    NOT NULL
);
CREATE TABLE IF NOT EXISTS proj_claims (
    epoch         numeric NOT NULL,
    account       text COLLATE "C"    NOT NULL,
    amount        numeric NOT NULL,
    block_number  bigint  NOT NULL,
    log_index     integer NOT NULL,
    tx_hash       text COLLATE "C"    NOT NULL,
    PRIMARY KEY (epoch, account)
);
CREATE INDEX IF NOT EXISTS proj_claims_block ON proj_claims (block_number);
CREATE INDEX IF NOT EXISTS proj_epochs_published_block ON proj_epochs_published (block_number);

-- Epochs closed by the epoch job once final: the reward tree's leaves, each with its proof.
-- Only final blocks feed them, so no reorg reaches them; `rebuild` leaves them alone.
CREATE TABLE IF NOT EXISTS reward_epochs (
    epoch        bigint      PRIMARY KEY,
    from_block   bigint      NOT NULL,
    to_block     bigint      NOT NULL,
    pool         numeric     NOT NULL,
    total        numeric     NOT NULL,   -- sum of the leaves (<= pool: floor division)
    root         text,                   -- NULL: no leaf (no weight), nothing to publish
    leaf_count   integer     NOT NULL,
    closed_at    timestamptz NOT NULL DEFAULT now(),
    publish_tx   text                    -- the publishEpoch transaction, once final
);
ALTER TABLE reward_epochs ADD COLUMN IF NOT EXISTS publish_block bigint;
CREATE TABLE IF NOT EXISTS reward_leaves (
    epoch    bigint  NOT NULL REFERENCES reward_epochs (epoch),
    account  text COLLATE "C"    NOT NULL,
    amount   numeric NOT NULL,
    proof    text[]  NOT NULL,
    PRIMARY KEY (epoch, account)
);

-- Reward publication (artisan/projections/publisher.py). The epoch row above is what a
-- publication intends (epoch, root, total), written before anything is sent. Every
-- transaction signed for it (mint where configured, approve, publishEpoch) is recorded here
-- before it is broadcast, so that after a crash, a drop or a reorg the same bytes are sent
-- again or replaced by nonce, and a step is signed anew only once no earlier attempt of it
-- can land any more (its nonce went to another transaction, or it reverted).
CREATE TABLE IF NOT EXISTS reward_publication_txs (
    tx_hash       text COLLATE "C" PRIMARY KEY,
    epoch         bigint  NOT NULL REFERENCES reward_epochs (epoch),
    step          text    NOT NULL CHECK (step IN ('mint', 'approve', 'publish')),
    publisher     text COLLATE "C" NOT NULL,   -- lowercase address
    nonce         bigint  NOT NULL,
    raw           bytea   NOT NULL,
    max_fee       numeric NOT NULL,
    priority_fee  numeric NOT NULL,
    signed_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- open: may still land (or has landed); lost: its nonce went to another transaction and
    -- none of this attempt's transactions has a receipt; reverted: mined and failed
    status        text    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'lost', 'reverted'))
);
CREATE INDEX IF NOT EXISTS reward_publication_txs_epoch
    ON reward_publication_txs (epoch, nonce);

-- ---------------------------------------------------------------------------------------------
-- Executor outbox (artisan/executor/outbox.py, emitter.py). An execution is written here, in
-- the executor's own transaction, before any transaction carries it; the emitter (one per
-- chain and operator key, under an advisory lock) batches pending rows into recordBatch
-- transactions and records each signed transaction before it is broadcast, so a crash at any
-- point leaves enough to finish the job without losing or repeating a charge. Digests,
-- signatures and the user address are bytea: they go into calldata as raw bytes.
-- ---------------------------------------------------------------------------------------------

-- One recordBatch per nonce of an operator key: its transactions are the original and any
-- fee-bumped replacements. `status`: broadcast (signed and persisted, maybe not yet sent),
-- mined (in a block, fewer confirmations than asked), done, lost (the nonce went to another
-- transaction: its executions went back to pending), reverted.
CREATE TABLE IF NOT EXISTS outbox_batches (
    id            bigserial   PRIMARY KEY,
    chain_id      bigint      NOT NULL,
    ledger        text        NOT NULL,
    operator      text        NOT NULL,
    nonce         bigint      NOT NULL,
    size          integer     NOT NULL,
    status        text        NOT NULL DEFAULT 'broadcast'
                  CHECK (status IN ('broadcast', 'mined', 'done', 'lost', 'reverted')),
    tx_hash       text        NOT NULL,   -- the mined transaction once mined, else the latest
    block_number  bigint,
    block_hash    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (chain_id, operator, nonce)
);
CREATE INDEX IF NOT EXISTS outbox_batches_open
    ON outbox_batches (chain_id, operator, nonce) WHERE status IN ('broadcast', 'mined');

-- Every signed transaction of a batch, kept whole so that it can be re-broadcast byte for byte.
CREATE TABLE IF NOT EXISTS outbox_transactions (
    tx_hash       text          PRIMARY KEY,
    batch_id      bigint        NOT NULL REFERENCES outbox_batches (id),
    raw           bytea         NOT NULL,
    max_fee       numeric(78,0) NOT NULL,
    priority_fee  numeric(78,0) NOT NULL,
    signed_at     timestamptz   NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS outbox_transactions_batch ON outbox_transactions (batch_id);

-- `status`: pending → broadcast → confirmed | rejected (reject_reason: the ledger's code).
CREATE TABLE IF NOT EXISTS outbox_executions (
    execution_id    bytea         PRIMARY KEY,   -- the request's EIP-712 digest
    chain_id        bigint        NOT NULL,
    ledger          text          NOT NULL,
    operator        text          NOT NULL,
    user_address    bytea         NOT NULL,
    model_id        numeric(78,0) NOT NULL,
    input_digest    bytea         NOT NULL,
    params_hash     bytea         NOT NULL,
    priority        smallint      NOT NULL,
    max_cost        numeric(78,0) NOT NULL,
    nonce           numeric(78,0) NOT NULL,
    deadline        numeric(78,0) NOT NULL,
    signature       bytea         NOT NULL,
    input_units     numeric(20,0) NOT NULL,
    gpu_micros      numeric(20,0) NOT NULL,
    latency_micros  numeric(20,0) NOT NULL,
    storage_bytes   numeric(20,0) NOT NULL,
    concurrent_load bigint        NOT NULL,
    output_digest   bytea         NOT NULL,
    output_cid      text          NOT NULL,
    item_abi        bytea         NOT NULL,      -- the ABI-encoded recordBatch Item, made once
    metering        jsonb         NOT NULL DEFAULT '{}',   -- batch id, size, share: off-chain
    status          text          NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'broadcast', 'confirmed', 'rejected')),
    reject_reason   smallint,
    -- No foreign key: only the emitter writes it, from the batch it has just inserted, and
    -- checking 500 references per batch would cost it a third of its update.
    batch_id        bigint,
    attempts        integer       NOT NULL DEFAULT 0,
    cost            numeric(78,0),                 -- charged, from InferenceExecuted
    tx_hash         text,                          -- of the outcome's log, once final
    block_number    bigint,
    block_hash      text,
    created_at      timestamptz   NOT NULL DEFAULT now(),
    updated_at      timestamptz   NOT NULL DEFAULT now(),
    CHECK ((status = 'rejected') = (reject_reason IS NOT NULL)),
    CHECK ((status = 'pending') = (batch_id IS NULL))   -- a batch is kept once assigned
);
CREATE INDEX IF NOT EXISTS outbox_executions_pending
    ON outbox_executions (chain_id, ledger, operator, created_at, execution_id)
    WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS outbox_executions_batch
    ON outbox_executions (batch_id) WHERE status = 'broadcast';

-- ---------------------------------------------------------------------------------------------
-- Services: the state each running process reports of itself.
-- ---------------------------------------------------------------------------------------------

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
