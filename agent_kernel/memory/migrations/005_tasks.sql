-- Multi-step tasks the agent plans, and each step's status, so work carries over sessions.
CREATE TABLE tasks (
    id VARCHAR PRIMARY KEY,
    session_id VARCHAR,
    title VARCHAR NOT NULL,
    created TIMESTAMPTZ NOT NULL
);

CREATE TABLE task_steps (
    task_id VARCHAR NOT NULL,
    position INTEGER NOT NULL,          -- from 1
    text VARCHAR NOT NULL,
    status VARCHAR NOT NULL,            -- todo | doing | done | failed
    note VARCHAR NOT NULL DEFAULT '',
    updated TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (task_id, position)
);
