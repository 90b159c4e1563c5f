-- Least-privileged roles for the job (docs/security.md):
--   bmbill_reader  reads the source tables;
--   bmbill_writer  writes the billing tables (billing_runs, invoices, invoice_lines, the
--                  invoice number counter) and reads current_invoices.
-- Both are NOLOGIN: grant them to the login role the job connects as. Creating roles
-- needs CREATEROLE; where the migrating user lacks it, the roles are skipped with a
-- warning and a DBA can run this file's statements.
DO $$
DECLARE
    can_create boolean := (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bmbill_reader') THEN
        IF can_create THEN
            BEGIN
                CREATE ROLE bmbill_reader NOLOGIN;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created meanwhile by a migration of another database of the cluster
            END;
        ELSE RAISE WARNING 'bmbill_reader not created: % lacks CREATEROLE', current_user; END IF;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bmbill_writer') THEN
        IF can_create THEN
            BEGIN
                CREATE ROLE bmbill_writer NOLOGIN;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created meanwhile by a migration of another database of the cluster
            END;
        ELSE RAISE WARNING 'bmbill_writer not created: % lacks CREATEROLE', current_user; END IF;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bmbill_reader') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO bmbill_reader', current_schema());
        GRANT SELECT ON projects, instance_types, instances, instance_state_changes, billable_states, rates TO bmbill_reader;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bmbill_writer') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO bmbill_writer', current_schema());
        GRANT SELECT, INSERT, UPDATE, DELETE ON billing_runs, invoices, invoice_lines, invoice_number_series TO bmbill_writer;
        GRANT SELECT ON current_invoices, bmbill_schema_migrations TO bmbill_writer;
        EXECUTE format('GRANT USAGE ON SEQUENCE %s, %s TO bmbill_writer',
                       pg_get_serial_sequence('billing_runs', 'run_id'), pg_get_serial_sequence('invoices', 'invoice_id'));
    END IF;
END
$$;

-- The period read selects by time; the infinite-timestamp check looks values up.
CREATE INDEX IF NOT EXISTS instance_state_changes_changed_at ON instance_state_changes (changed_at);
