-- Sessions, every model-facing message, every event of every run, and long-lived memories.
CREATE TABLE sessions (
    id VARCHAR PRIMARY KEY,
    notebook VARCHAR NOT NULL,          -- path relative to the project folder; '' outside a notebook
    user_name VARCHAR NOT NULL,
    started TIMESTAMPTZ NOT NULL,
    title VARCHAR NOT NULL DEFAULT '',
    last_active TIMESTAMPTZ NOT NULL
);

CREATE TABLE messages (
    session_id VARCHAR NOT NULL,
    seq INTEGER NOT NULL,               -- order within the session, from 0
    run_id VARCHAR,
    role VARCHAR NOT NULL,              -- user | assistant | tool
    message JSON NOT NULL,              -- exactly as sent to the model (secrets redacted)
    created TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (session_id, seq)
);

CREATE SEQUENCE events_id_seq;
CREATE TABLE events (
    id BIGINT PRIMARY KEY DEFAULT nextval('events_id_seq'),
    session_id VARCHAR,
    run_id VARCHAR NOT NULL,
    step INTEGER NOT NULL,
    kind VARCHAR NOT NULL,
    data JSON NOT NULL,
    time TIMESTAMPTZ NOT NULL
);
CREATE INDEX events_run ON events (run_id);

CREATE TABLE memories (
    id VARCHAR PRIMARY KEY,
    scope VARCHAR NOT NULL,             -- project | user
    kind VARCHAR NOT NULL,              -- fact | decision | preference
    text VARCHAR NOT NULL,
    source VARCHAR NOT NULL,            -- user | agent | file:PATH | ...
    trust VARCHAR NOT NULL,             -- trusted | untrusted
    created TIMESTAMPTZ NOT NULL,
    session_id VARCHAR,
    superseded_by VARCHAR               -- a newer memory that replaces this one; history is kept
);
