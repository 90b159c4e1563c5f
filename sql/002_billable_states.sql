-- The billable-state table of the seed (bare-metal-server.txt, "Instance state and
-- billing"). It is data: an operator may change it without a release. Names are
-- canonical (lower case); bmbill matches recorded states case-insensitively.
INSERT INTO billable_states (state, billable, description) VALUES
    ('spawning',               false, 'Instance is being created'),
    ('active',                 true,  'Instance is running'),
    ('stopped',                true,  'Instance is stopped but resources remain allocated on the hypervisor'),
    ('rebuild_spawning',       true,  'Instance is being rebuilt'),
    ('rebooting_hard',         true,  'Hard reboot initiated'),
    ('rebooting_started_hard', true,  'Hard reboot in progress'),
    ('powering-off',           true,  'Instance is shutting down'),
    ('powering-on',            true,  'Restarting a stopped instance'),
    ('error',                  false, 'Instance encountered an error and is unusable'),
    ('deleting',               false, 'Instance is being deleted'),
    ('shelved_offloaded',      false, 'After Terminate: resources released'),
    ('deleted',                false, 'Gone; terminal')
ON CONFLICT (state) DO NOTHING;
