-- audit_check_link looks up the previous entry by seq for every row
-- inserted. PL/pgSQL keeps that query's plan for the life of a connection;
-- planned while the table was small or before ANALYZE had counted its
-- rows, the kept plan was a sequential scan, and every insert then read
-- the whole table (seen as thousands of sequential scans and millions of
-- rows read during a benchmark). With sequential scans off inside the
-- function the lookup is always a primary-key probe.
ALTER FUNCTION audit_check_link() SET enable_seqscan = off;
