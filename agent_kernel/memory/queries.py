"""The store's longer queries, by name (short single-purpose statements stay beside their use).

The schema itself is in migrations/; the `runs` view there turns run events into rows.
"""

SESSIONS_TABLE = """
SELECT s.id, s.title, s.notebook, count(r.id) AS turns, s.last_active AS last_active,
       s.user_name AS user
FROM sessions s LEFT JOIN runs r ON r.session_id = s.id
GROUP BY ALL ORDER BY s.last_active DESC
"""

CURRENT_SESSION = """
SELECT s.id, s.notebook, s.title FROM notebook_sessions p
JOIN sessions s ON s.id = p.session_id WHERE p.notebook = ?
"""

PENDING_APPROVALS = """
SELECT r.data ->> 'approval_id', r.session_id, r.run_id, r.data ->> 'tool',
       r.data ->> 'call_id', CAST(r.data -> 'arguments' AS VARCHAR), r.data ->> 'reason',
       CAST(r.data -> 'taint' AS VARCHAR), r.time, CAST(r.data ->> 'timeout' AS DOUBLE)
FROM events r
WHERE r.kind = 'approval_requested'
  AND NOT EXISTS (SELECT 1 FROM events d WHERE d.kind = 'approval_decided'
                  AND d.data ->> 'approval_id' = r.data ->> 'approval_id')
  AND (CAST(? AS VARCHAR) IS NULL OR r.session_id = ?)
ORDER BY r.id
"""

APPROVALS_TABLE = """
SELECT r.data ->> 'approval_id' AS id, r.time AS requested, r.data ->> 'tool' AS tool,
       CASE WHEN d.id IS NULL THEN 'pending'
            WHEN (d.data ->> 'approved')::BOOLEAN THEN 'approved' ELSE 'denied' END AS state,
       d.data ->> 'by' AS by, d.data ->> 'how' AS how,
       coalesce(d.data ->> 'reason', r.data ->> 'reason') AS reason, r.session_id AS session
FROM events r
LEFT JOIN events d ON d.kind = 'approval_decided'
     AND d.data ->> 'approval_id' = r.data ->> 'approval_id'
WHERE r.kind = 'approval_requested'
ORDER BY r.id DESC
"""

# The decisions (policy rulings, approval requests and answers) of one notebook's sessions,
# or every event of every notebook when the first parameter is true.
AUDIT_TABLE = """
SELECT e.id, e.time, s.user_name AS user, e.session_id AS session, e.run_id AS run, e.kind,
       e.data ->> 'tool' AS tool,
       coalesce(e.data ->> 'decision',
                CASE WHEN e.kind = 'approval_decided' THEN
                     CASE WHEN (e.data ->> 'approved')::BOOLEAN THEN 'approved' ELSE 'denied' END
                     WHEN e.kind = 'approval_requested' THEN 'waiting' END) AS decision,
       e.data ->> 'by' AS by, e.data ->> 'reason' AS reason,
       nullif(concat_ws('; ', nullif(e.data ->> 'rule', ''),
                        nullif(CAST(e.data -> 'taint' AS VARCHAR), '[]'),
                        nullif(e.data ->> 'edit', '')), '') AS detail,
       e.data ->> 'approval_id' AS approval
FROM events e LEFT JOIN sessions s ON s.id = e.session_id
WHERE ?
   OR (e.kind IN ('policy_decision', 'approval_requested', 'approval_decided')
       AND s.notebook = ?)
ORDER BY e.id DESC
LIMIT ?
"""

RUN_EVENTS = """
SELECT kind, run_id, step, CAST(data AS VARCHAR), epoch(time) FROM events
WHERE run_id = ? ORDER BY id
"""

# A run by id or unique prefix; else the newest run of the session ($2), else of the project.
FIND_RUN = """
SELECT id FROM runs
WHERE (CAST(? AS VARCHAR) IS NOT NULL AND id LIKE ? || '%')
   OR (CAST(? AS VARCHAR) IS NULL AND (CAST(? AS VARCHAR) IS NULL OR session_id = ?))
ORDER BY started DESC LIMIT 2
"""
