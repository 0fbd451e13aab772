-- Included by both fills (\ir): the 64 templates every drawing's bytes are copied from, with a per-row salt.
\set ON_ERROR_STOP on
SET synchronous_commit = off;

CREATE TEMP TABLE template AS
SELECT t AS k,
       -- 1,504 bytes that do not compress (94 different md5s), as a PNG's do not
       (SELECT string_agg(decode(md5(t || '.' || i), 'hex'), '' ORDER BY i) FROM generate_series(1, 94) i) AS image,
       decode(repeat('00', 600) || repeat(md5('i' || t::text), 11) || repeat('00', 8), 'hex') AS model_input
FROM generate_series(0, 63) t;
