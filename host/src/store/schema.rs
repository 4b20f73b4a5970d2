//! Schema migrations, one list per database, applied in order; SQLite's
//! `PRAGMA user_version` and PostgreSQL's `sluice_schema` table record how
//! many have been applied. Never edit a released migration: add one, to
//! both lists (the store's SQL is shared, so both schemas move together).

/// SQLite's migrations, oldest first.
pub const SQLITE: &[&str] = &[
    // 1: pipelines, executions, stage and action runs, artifacts,
    //    transitions, requests from other processes.
    r#"
    CREATE TABLE pipelines (
        name            TEXT PRIMARY KEY,
        current_version INTEGER NOT NULL,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL
    );
    CREATE TABLE pipeline_versions (
        pipeline    TEXT NOT NULL,
        version     INTEGER NOT NULL,
        body        TEXT NOT NULL,
        digest      TEXT NOT NULL,
        source_file TEXT,
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (pipeline, version)
    );
    CREATE TABLE executions (
        id               TEXT PRIMARY KEY,
        pipeline         TEXT NOT NULL,
        version          INTEGER NOT NULL,
        seq              INTEGER NOT NULL UNIQUE,
        status           TEXT NOT NULL,
        status_reason    TEXT,
        trigger_         TEXT NOT NULL,
        variables        TEXT NOT NULL,
        source_revisions TEXT NOT NULL,
        position_stage   INTEGER,
        position_waiting INTEGER,
        stop             TEXT,
        started_at       INTEGER NOT NULL,
        updated_at       INTEGER NOT NULL,
        ended_at         INTEGER
    );
    CREATE INDEX executions_by_pipeline ON executions (pipeline, seq);
    CREATE INDEX executions_active ON executions (status)
        WHERE status IN ('InProgress', 'Stopping');
    CREATE TABLE stage_runs (
        execution_id TEXT NOT NULL,
        stage_index  INTEGER NOT NULL,
        name         TEXT NOT NULL,
        status       TEXT,
        attempt      INTEGER NOT NULL,
        entered_seq  INTEGER,
        started_at   INTEGER,
        ended_at     INTEGER,
        PRIMARY KEY (execution_id, stage_index)
    );
    CREATE TABLE action_runs (
        execution_id      TEXT NOT NULL,
        stage_index       INTEGER NOT NULL,
        action_index      INTEGER NOT NULL,
        attempt           INTEGER NOT NULL,
        stage_attempt     INTEGER NOT NULL,
        stage             TEXT NOT NULL,
        action            TEXT NOT NULL,
        run_order         INTEGER NOT NULL,
        status            TEXT NOT NULL,
        started_at        INTEGER,
        ended_at          INTEGER,
        deadline_at       INTEGER,
        summary           TEXT,
        variables         TEXT NOT NULL,
        error_kind        TEXT,
        error_message     TEXT,
        continuation      TEXT,
        recheck_at        INTEGER,
        percent           INTEGER,
        running           INTEGER NOT NULL,
        awaiting_approval INTEGER NOT NULL,
        approval          TEXT,
        revision          TEXT,
        inputs            TEXT NOT NULL,
        outputs           TEXT NOT NULL,
        log               TEXT,
        configuration     TEXT NOT NULL,
        PRIMARY KEY (execution_id, stage_index, action_index, attempt)
    );
    CREATE TABLE artifacts (
        execution_id TEXT NOT NULL,
        name         TEXT NOT NULL,
        digest       TEXT NOT NULL,
        files        INTEGER NOT NULL,
        bytes        INTEGER NOT NULL,
        producer     TEXT NOT NULL,
        revision     TEXT,
        PRIMARY KEY (execution_id, name)
    );
    CREATE TABLE transitions (
        pipeline   TEXT NOT NULL,
        stage      TEXT NOT NULL,
        enabled    INTEGER NOT NULL,
        reason     TEXT,
        changed_by TEXT,
        changed_at INTEGER,
        PRIMARY KEY (pipeline, stage)
    );
    CREATE TABLE requests (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        body       TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        done_at    INTEGER,
        outcome    TEXT
    );
    "#,
    // 2: idempotency tokens of starts.
    r#"
    ALTER TABLE executions ADD COLUMN client_token TEXT;
    CREATE UNIQUE INDEX executions_by_token ON executions (pipeline, client_token)
        WHERE client_token IS NOT NULL;
    "#,
    // 3: every attempt of every stage, not only the latest.
    r#"
    CREATE TABLE stage_attempts (
        execution_id TEXT NOT NULL,
        stage_index  INTEGER NOT NULL,
        attempt      INTEGER NOT NULL,
        name         TEXT NOT NULL,
        status       TEXT,
        started_at   INTEGER,
        ended_at     INTEGER,
        PRIMARY KEY (execution_id, stage_index, attempt)
    );
    INSERT INTO stage_attempts (execution_id, stage_index, attempt, name, status, started_at, ended_at)
        SELECT execution_id, stage_index, attempt, name, status, started_at, ended_at
        FROM stage_runs WHERE attempt > 0;
    "#,
    // 4: reads that stay fast with many executions: the latest entry of
    //    each stage kept as it happens, waiting executions and pending
    //    requests indexed.
    r#"
    CREATE TABLE stage_entries (
        pipeline     TEXT NOT NULL,
        stage        TEXT NOT NULL,
        entered_seq  INTEGER NOT NULL,
        execution_id TEXT NOT NULL,
        PRIMARY KEY (pipeline, stage)
    );
    INSERT INTO stage_entries (pipeline, stage, entered_seq, execution_id)
        SELECT e.pipeline, s.name, MAX(s.entered_seq), s.execution_id
        FROM stage_runs s JOIN executions e ON e.id = s.execution_id
        WHERE s.entered_seq IS NOT NULL
        GROUP BY e.pipeline, s.name;
    CREATE INDEX executions_waiting ON executions (pipeline, seq)
        WHERE position_waiting = 1 AND status IN ('InProgress', 'Stopping');
    CREATE INDEX requests_pending ON requests (id) WHERE done_at IS NULL;
    CREATE INDEX artifacts_by_digest ON artifacts (digest);
    CREATE INDEX executions_ended ON executions (pipeline, ended_at)
        WHERE status NOT IN ('InProgress', 'Stopping');
    "#,
    // 5: named API tokens (their sha256 only) and the audit log.
    r#"
    CREATE TABLE tokens (
        name       TEXT PRIMARY KEY,
        role       TEXT NOT NULL,
        hash       TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL
    );
    CREATE TABLE audit (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        at      INTEGER NOT NULL,
        actor   TEXT NOT NULL,
        action  TEXT NOT NULL,
        target  TEXT NOT NULL,
        outcome TEXT NOT NULL
    );
    "#,
    // 6: provider components kept for other hosts (used on PostgreSQL,
    //    where hosts share the database; a SQLite state directory keeps
    //    them in its components/ folder only).
    r#"
    CREATE TABLE components (
        digest     TEXT PRIMARY KEY,
        bytes      BLOB NOT NULL,
        created_at INTEGER NOT NULL
    );
    "#,
    // 7: executions by when they last changed, for hosts standing by.
    r#"
    CREATE INDEX executions_updated ON executions (updated_at);
    "#,
    // 8: AWS access keys of named tokens (SigV4 needs the secret itself).
    r#"
    CREATE TABLE aws_keys (
        access_key_id TEXT PRIMARY KEY,
        token         TEXT NOT NULL,
        secret        TEXT NOT NULL,
        created_at    INTEGER NOT NULL
    );
    CREATE INDEX aws_keys_by_token ON aws_keys (token);
    "#,
    // 9: tags of what the CodePipeline API names by ARN (pipelines,
    // webhooks, custom action types), by the kind and name of each.
    r#"
    CREATE TABLE aws_tags (
        kind  TEXT NOT NULL,
        name  TEXT NOT NULL,
        key   TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (kind, name, key)
    );
    "#,
    // 10: the CodePipeline API's webhooks, custom action types and the
    // jobs of custom actions that external workers take.
    r#"
    CREATE TABLE aws_webhooks (
        name           TEXT PRIMARY KEY,
        pipeline       TEXT NOT NULL,
        definition     TEXT NOT NULL,
        url_id         TEXT NOT NULL UNIQUE,
        registered     INTEGER NOT NULL DEFAULT 0,
        error_code     TEXT,
        error_message  TEXT,
        last_triggered INTEGER,
        created_at     INTEGER NOT NULL
    );
    CREATE INDEX aws_webhooks_by_pipeline ON aws_webhooks (pipeline);
    CREATE TABLE aws_action_types (
        category   TEXT NOT NULL,
        owner      TEXT NOT NULL,
        provider   TEXT NOT NULL,
        version    TEXT NOT NULL,
        definition TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (category, owner, provider, version)
    );
    CREATE TABLE aws_jobs (
        id              TEXT PRIMARY KEY,
        nonce           TEXT NOT NULL,
        action_type     TEXT NOT NULL,
        execution_id    TEXT NOT NULL,
        stage           TEXT NOT NULL,
        action          TEXT NOT NULL,
        attempt         INTEGER NOT NULL,
        state           TEXT NOT NULL,
        data            TEXT NOT NULL,
        client_token    TEXT,
        access_key_id   TEXT NOT NULL,
        result          TEXT,
        created_at      INTEGER NOT NULL,
        dispatched_at   INTEGER,
        acknowledged_at INTEGER,
        updated_at      INTEGER NOT NULL
    );
    CREATE INDEX aws_jobs_waiting ON aws_jobs (action_type, state, created_at);
    CREATE INDEX aws_jobs_by_execution ON aws_jobs (execution_id);
    CREATE INDEX aws_jobs_by_key ON aws_jobs (access_key_id);
    "#,
];

/// Where PostgreSQL records how many migrations were applied.
pub const POSTGRES_VERSION_TABLE: &str = "
    CREATE TABLE IF NOT EXISTS sluice_schema (version BIGINT NOT NULL);
    INSERT INTO sluice_schema (version)
        SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM sluice_schema);";

/// PostgreSQL's migrations, oldest first. Integers are BIGINT (times are
/// milliseconds); keys are compared byte by byte (`COLLATE "C"`), as
/// SQLite compares them, so an id's prefix range and every ordering by name
/// agree on both.
pub const POSTGRES: &[&str] = &[
    // 1: the schema of SQLite's migrations 1 to 5.
    r#"
    CREATE TABLE pipelines (
        name            TEXT COLLATE "C" PRIMARY KEY,
        current_version BIGINT NOT NULL,
        created_at      BIGINT NOT NULL,
        updated_at      BIGINT NOT NULL
    );
    CREATE TABLE pipeline_versions (
        pipeline    TEXT COLLATE "C" NOT NULL,
        version     BIGINT NOT NULL,
        body        TEXT NOT NULL,
        digest      TEXT NOT NULL,
        source_file TEXT,
        created_at  BIGINT NOT NULL,
        PRIMARY KEY (pipeline, version)
    );
    CREATE TABLE executions (
        id               TEXT COLLATE "C" PRIMARY KEY,
        pipeline         TEXT COLLATE "C" NOT NULL,
        version          BIGINT NOT NULL,
        seq              BIGINT NOT NULL UNIQUE,
        status           TEXT NOT NULL,
        status_reason    TEXT,
        trigger_         TEXT NOT NULL,
        variables        TEXT NOT NULL,
        source_revisions TEXT NOT NULL,
        position_stage   BIGINT,
        position_waiting BIGINT,
        stop             TEXT,
        started_at       BIGINT NOT NULL,
        updated_at       BIGINT NOT NULL,
        ended_at         BIGINT,
        client_token     TEXT
    );
    CREATE INDEX executions_by_pipeline ON executions (pipeline, seq);
    CREATE INDEX executions_active ON executions (status)
        WHERE status IN ('InProgress', 'Stopping');
    CREATE UNIQUE INDEX executions_by_token ON executions (pipeline, client_token)
        WHERE client_token IS NOT NULL;
    CREATE INDEX executions_waiting ON executions (pipeline, seq)
        WHERE position_waiting = 1 AND status IN ('InProgress', 'Stopping');
    CREATE INDEX executions_ended ON executions (pipeline, ended_at)
        WHERE status NOT IN ('InProgress', 'Stopping');
    CREATE TABLE stage_runs (
        execution_id TEXT COLLATE "C" NOT NULL,
        stage_index  BIGINT NOT NULL,
        name         TEXT NOT NULL,
        status       TEXT,
        attempt      BIGINT NOT NULL,
        entered_seq  BIGINT,
        started_at   BIGINT,
        ended_at     BIGINT,
        PRIMARY KEY (execution_id, stage_index)
    );
    CREATE TABLE stage_attempts (
        execution_id TEXT COLLATE "C" NOT NULL,
        stage_index  BIGINT NOT NULL,
        attempt      BIGINT NOT NULL,
        name         TEXT NOT NULL,
        status       TEXT,
        started_at   BIGINT,
        ended_at     BIGINT,
        PRIMARY KEY (execution_id, stage_index, attempt)
    );
    CREATE TABLE stage_entries (
        pipeline     TEXT COLLATE "C" NOT NULL,
        stage        TEXT COLLATE "C" NOT NULL,
        entered_seq  BIGINT NOT NULL,
        execution_id TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (pipeline, stage)
    );
    CREATE TABLE action_runs (
        execution_id      TEXT COLLATE "C" NOT NULL,
        stage_index       BIGINT NOT NULL,
        action_index      BIGINT NOT NULL,
        attempt           BIGINT NOT NULL,
        stage_attempt     BIGINT NOT NULL,
        stage             TEXT NOT NULL,
        action            TEXT NOT NULL,
        run_order         BIGINT NOT NULL,
        status            TEXT NOT NULL,
        started_at        BIGINT,
        ended_at          BIGINT,
        deadline_at       BIGINT,
        summary           TEXT,
        variables         TEXT NOT NULL,
        error_kind        TEXT,
        error_message     TEXT,
        continuation      TEXT,
        recheck_at        BIGINT,
        percent           BIGINT,
        running           BIGINT NOT NULL,
        awaiting_approval BIGINT NOT NULL,
        approval          TEXT,
        revision          TEXT,
        inputs            TEXT NOT NULL,
        outputs           TEXT NOT NULL,
        log               TEXT,
        configuration     TEXT NOT NULL,
        PRIMARY KEY (execution_id, stage_index, action_index, attempt)
    );
    CREATE TABLE artifacts (
        execution_id TEXT COLLATE "C" NOT NULL,
        name         TEXT COLLATE "C" NOT NULL,
        digest       TEXT NOT NULL,
        files        BIGINT NOT NULL,
        bytes        BIGINT NOT NULL,
        producer     TEXT NOT NULL,
        revision     TEXT,
        PRIMARY KEY (execution_id, name)
    );
    CREATE INDEX artifacts_by_digest ON artifacts (digest);
    CREATE TABLE transitions (
        pipeline   TEXT COLLATE "C" NOT NULL,
        stage      TEXT COLLATE "C" NOT NULL,
        enabled    BIGINT NOT NULL,
        reason     TEXT,
        changed_by TEXT,
        changed_at BIGINT,
        PRIMARY KEY (pipeline, stage)
    );
    CREATE TABLE requests (
        id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        body       TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        done_at    BIGINT,
        outcome    TEXT
    );
    CREATE INDEX requests_pending ON requests (id) WHERE done_at IS NULL;
    CREATE TABLE tokens (
        name       TEXT COLLATE "C" PRIMARY KEY,
        role       TEXT NOT NULL,
        hash       TEXT NOT NULL UNIQUE,
        created_at BIGINT NOT NULL,
        created_by TEXT NOT NULL
    );
    CREATE TABLE audit (
        id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at      BIGINT NOT NULL,
        actor   TEXT NOT NULL,
        action  TEXT NOT NULL,
        target  TEXT NOT NULL,
        outcome TEXT NOT NULL
    );
    "#,
    // 2: provider components, so that every host sharing the database finds
    //    the exact component a pipeline version was applied with.
    r#"
    CREATE TABLE components (
        digest     TEXT COLLATE "C" PRIMARY KEY,
        bytes      BYTEA NOT NULL,
        created_at BIGINT NOT NULL
    );
    "#,
    // 3: executions by when they last changed, for hosts standing by.
    r#"
    CREATE INDEX executions_updated ON executions (updated_at);
    "#,
    // 4: the lease a driving host holds, with its fencing token, the
    //    queue of provider calls any host may claim, and the logs of
    //    calls, which any host may have run. Times are the
    //    database's clock (sluice_now), so hosts' clocks never disagree.
    r#"
    CREATE FUNCTION sluice_now() RETURNS BIGINT LANGUAGE sql VOLATILE AS
      $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT $$;
    CREATE TABLE leases (
        scope      TEXT COLLATE "C" PRIMARY KEY,
        holder     TEXT NOT NULL,
        token      BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        renewed_at BIGINT NOT NULL
    );
    CREATE FUNCTION sluice_fence(wanted_scope TEXT, wanted_token BIGINT) RETURNS BIGINT
    LANGUAGE plpgsql AS $$
    BEGIN
        -- Called under the writers' lock, which a host taking the lease
        -- over takes too: no write of the old holder lands after it.
        PERFORM 1 FROM leases WHERE scope = wanted_scope AND token = wanted_token;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'fenced: the lease on % (fencing token %) was taken over by another host',
                wanted_scope, wanted_token USING ERRCODE = 'SLF01';
        END IF;
        RETURN wanted_token;
    END $$;
    CREATE TABLE jobs (
        id           TEXT COLLATE "C" PRIMARY KEY,
        execution_id TEXT COLLATE "C" NOT NULL,
        stage_index  BIGINT NOT NULL,
        action_index BIGINT NOT NULL,
        attempt      BIGINT NOT NULL,
        fence        BIGINT NOT NULL,
        driver       TEXT NOT NULL,
        only_host    TEXT,
        artifacts    BIGINT NOT NULL,
        request      TEXT NOT NULL,
        state        TEXT NOT NULL,
        worker       TEXT,
        queued_at    BIGINT NOT NULL,
        claimed_at   BIGINT,
        heartbeat_at BIGINT,
        finished_at  BIGINT,
        result       TEXT
    );
    CREATE INDEX jobs_queued ON jobs (queued_at, id) WHERE state = 'queued';
    CREATE INDEX jobs_running ON jobs (fence, heartbeat_at) WHERE state = 'running';
    CREATE INDEX jobs_by_execution ON jobs (execution_id);
    CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
    CREATE TABLE logs (
        path       TEXT COLLATE "C" PRIMARY KEY,
        body       BYTEA NOT NULL,
        updated_at BIGINT NOT NULL
    );
    "#,
    // 5: AWS access keys of named tokens (SigV4 needs the secret itself).
    r#"
    CREATE TABLE aws_keys (
        access_key_id TEXT COLLATE "C" PRIMARY KEY,
        token         TEXT COLLATE "C" NOT NULL,
        secret        TEXT NOT NULL,
        created_at    BIGINT NOT NULL
    );
    CREATE INDEX aws_keys_by_token ON aws_keys (token);
    "#,
    // 6: SQLite's 9, tags of what the CodePipeline API names by ARN.
    r#"
    CREATE TABLE aws_tags (
        kind  TEXT COLLATE "C" NOT NULL,
        name  TEXT COLLATE "C" NOT NULL,
        key   TEXT COLLATE "C" NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (kind, name, key)
    );
    "#,
    // 7: SQLite's 10, the CodePipeline API's webhooks, custom action
    // types and the jobs of custom actions.
    r#"
    CREATE TABLE aws_webhooks (
        name           TEXT COLLATE "C" PRIMARY KEY,
        pipeline       TEXT COLLATE "C" NOT NULL,
        definition     TEXT NOT NULL,
        url_id         TEXT COLLATE "C" NOT NULL UNIQUE,
        registered     BIGINT NOT NULL DEFAULT 0,
        error_code     TEXT,
        error_message  TEXT,
        last_triggered BIGINT,
        created_at     BIGINT NOT NULL
    );
    CREATE INDEX aws_webhooks_by_pipeline ON aws_webhooks (pipeline);
    CREATE TABLE aws_action_types (
        category   TEXT COLLATE "C" NOT NULL,
        owner      TEXT COLLATE "C" NOT NULL,
        provider   TEXT COLLATE "C" NOT NULL,
        version    TEXT COLLATE "C" NOT NULL,
        definition TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (category, owner, provider, version)
    );
    CREATE TABLE aws_jobs (
        id              TEXT COLLATE "C" PRIMARY KEY,
        nonce           TEXT NOT NULL,
        action_type     TEXT COLLATE "C" NOT NULL,
        execution_id    TEXT COLLATE "C" NOT NULL,
        stage           TEXT COLLATE "C" NOT NULL,
        action          TEXT COLLATE "C" NOT NULL,
        attempt         BIGINT NOT NULL,
        state           TEXT COLLATE "C" NOT NULL,
        data            TEXT NOT NULL,
        client_token    TEXT,
        access_key_id   TEXT COLLATE "C" NOT NULL,
        result          TEXT,
        created_at      BIGINT NOT NULL,
        dispatched_at   BIGINT,
        acknowledged_at BIGINT,
        updated_at      BIGINT NOT NULL
    );
    CREATE INDEX aws_jobs_waiting ON aws_jobs (action_type, state, created_at);
    CREATE INDEX aws_jobs_by_execution ON aws_jobs (execution_id);
    CREATE INDEX aws_jobs_by_key ON aws_jobs (access_key_id);
    "#,
];

/// What every database must hold true, as queries that find (at most five
/// of) the records breaking it: what is wrong, and the query.
pub const CONSISTENCY: &[(&str, &str)] = &[
    (
        "pipelines whose current version is missing",
        "SELECT p.name FROM pipelines p LEFT JOIN pipeline_versions v
           ON v.pipeline = p.name AND v.version = p.current_version
         WHERE v.pipeline IS NULL LIMIT 5",
    ),
    (
        "executions whose pipeline version is missing",
        "SELECT e.id FROM executions e LEFT JOIN pipeline_versions v
           ON v.pipeline = e.pipeline AND v.version = e.version
         WHERE v.pipeline IS NULL LIMIT 5",
    ),
    (
        "stage runs of missing executions",
        "SELECT DISTINCT s.execution_id FROM stage_runs s LEFT JOIN executions e
           ON e.id = s.execution_id WHERE e.id IS NULL LIMIT 5",
    ),
    (
        "action runs of missing executions",
        "SELECT DISTINCT a.execution_id FROM action_runs a LEFT JOIN executions e
           ON e.id = a.execution_id WHERE e.id IS NULL LIMIT 5",
    ),
    (
        "artifacts of missing executions",
        "SELECT DISTINCT a.execution_id FROM artifacts a LEFT JOIN executions e
           ON e.id = a.execution_id WHERE e.id IS NULL LIMIT 5",
    ),
];
