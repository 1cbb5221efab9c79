-- The output edges of the lineage, indexed by destination: where the projection finds a feeds
-- edge's producer (the first execution that output an asset), kept up to date during a replay
-- while the whole destination index waits for its end (artisan/projections/bulk.py).
CREATE INDEX IF NOT EXISTS proj_lineage_edges_producers
    ON proj_lineage_edges (dst, block_number, log_index) WHERE relation = 'output';
