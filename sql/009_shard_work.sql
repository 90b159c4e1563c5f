-- bmbill 009: sharded runs (`bmbill run --shards N --workers K`, `bmbill work`).
-- A sharded run of a period records its plan (the settings and the inputs every worker
-- must apply) and one work row per shard of the instances (by a hash of instance_id).
-- Workers on any machine claim a pending shard with FOR UPDATE SKIP LOCKED, meter it and,
-- in the same transaction, store its metering and mark it done; a worker that dies
-- mid-shard loses its transaction, so the shard is pending again for another worker.
-- When every shard is done the run assembles the invoices once, and removes the plan.
CREATE TABLE IF NOT EXISTS bmbill_shard_plans (
    period      text PRIMARY KEY,
    shards      int NOT NULL CHECK (shards BETWEEN 1 AND 4096),
    as_of       timestamptz NOT NULL,
    -- The billing settings the workers apply (not their own flags or environment).
    settings    jsonb NOT NULL,
    -- Fingerprint of the rates, instance types and billable-state table the plan was made
    -- with: a worker that reads different ones refuses the shard.
    inputs      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL
);

CREATE TABLE IF NOT EXISTS bmbill_shards (
    period      text NOT NULL REFERENCES bmbill_shard_plans (period) ON DELETE CASCADE,
    shard       int NOT NULL,
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done')),
    worker      text,
    finished_at timestamptz,
    changes     bigint,
    instances   bigint,
    -- The shard's metering (bmbill's MeteringPartial as JSON), read back when assembling.
    metering    text,
    PRIMARY KEY (period, shard)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bmbill_writer') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON bmbill_shard_plans, bmbill_shards TO bmbill_writer;
    END IF;
END
$$;
