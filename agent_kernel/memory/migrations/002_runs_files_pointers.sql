-- Runs as a view over their events, each notebook's current session, and learned files.
CREATE VIEW runs AS
SELECT
    s.run_id AS id,
    s.session_id,
    s.data ->> 'request' AS request,
    s.data ->> 'model' AS model,
    s.time AS started,
    f.time AS finished,
    coalesce(f.data ->> 'status', 'unfinished') AS status,
    CAST(f.data ->> 'steps' AS INTEGER) AS steps,
    CAST(f.data -> 'usage' ->> 'prompt_tokens' AS INTEGER) AS prompt_tokens,
    CAST(f.data -> 'usage' ->> 'completion_tokens' AS INTEGER) AS completion_tokens,
    f.data ->> 'answer' AS answer
FROM events s
LEFT JOIN events f ON f.run_id = s.run_id AND f.kind = 'run_finished'
WHERE s.kind = 'run_started';

CREATE TABLE notebook_sessions (
    notebook VARCHAR PRIMARY KEY,
    session_id VARCHAR NOT NULL,
    updated TIMESTAMPTZ NOT NULL
);

CREATE TABLE project_files (
    path VARCHAR PRIMARY KEY,           -- relative to the project folder
    sha256 VARCHAR NOT NULL,
    size BIGINT NOT NULL,
    chunks INTEGER NOT NULL,
    learned TIMESTAMPTZ NOT NULL
);
