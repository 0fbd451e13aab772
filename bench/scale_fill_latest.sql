-- The same mix as scale_fill.sql (read it first), written straight into the latest schema: the drawing's hot columns
-- with their answer columns and queue rank as Drawing.columns_from_answers sets them, its bytes in
-- recognizer_drawingimage, both predictions. Used for the 10M run, where filling the 0005 schema and migrating would
-- rewrite every row twice (0006's backfill, 0007's copy) and need more disk than this machine has; the drawings are
-- marked counted, so refresh_stats rebuilds the rollup from them. Ids follow the creation order, as in a real table.
\ir scale_templates.sql

CREATE TEMP TABLE plan AS
SELECT row_number() OVER (ORDER BY created) AS n, *,
       CASE WHEN agree THEN digit ELSE (digit + 1 + (r_conf2 * 8)::int) % 10 END AS custom_digit,
       CASE WHEN agree THEN 1 - 0.6 * power(r_conf, 6) ELSE 0.3 + 0.6 * r_conf END AS keras_conf,
       CASE WHEN agree THEN 1 - 0.6 * power(r_conf2, 6) ELSE 0.3 + 0.6 * r_conf2 END AS custom_conf
FROM (SELECT (random() * 9.999)::int % 10 AS digit,
             random() AS r_source, random() AS r_label, random() AS r_right, random() >= 0.02 AS agree,
             random() AS r_conf, random() AS r_conf2,
             now() - random() * interval '90 days' AS created
      FROM generate_series(1, :n)) g;

INSERT INTO recognizer_drawing (id, created, image_type, preprocess_version, source, drawer_key, agree,
                                idempotency_key, label, label_source, labeled_by_id, labeled_at,
                                keras_digit, keras_confidence, custom_digit, custom_confidence,
                                lowest_confidence, queue_rank, counted)
SELECT p.n, p.created, 'image/png', 'v3',
       CASE WHEN p.r_source < 0.90 THEN 'web' WHEN p.r_source < 0.98 THEN 'api'
            WHEN p.r_source < 0.99 THEN 'v2' ELSE 'tfserving' END,
       CASE WHEN p.r_source < 0.90 THEN md5('drawer' || (p.n % 50000)::text) ELSE '' END,
       p.agree,
       CASE WHEN p.r_source >= 0.90 AND p.r_source < 0.98 THEN md5('key' || p.n::text) END,
       -- labels follow the keras digit for 97 % of the labeled drawings
       CASE WHEN p.r_label < 0.07 THEN CASE WHEN p.r_right < 0.97 THEN p.digit ELSE (p.digit + 3) % 10 END END,
       CASE WHEN p.r_label < 0.05 THEN 'staff' WHEN p.r_label < 0.07 THEN 'user' ELSE '' END,
       NULL,
       CASE WHEN p.r_label < 0.07 THEN p.created + interval '1 hour' END,
       p.digit, p.keras_conf, p.custom_digit, p.custom_conf,
       least(p.keras_conf, p.custom_conf),
       CASE WHEN NOT p.agree THEN least(p.keras_conf, p.custom_conf)
            WHEN least(p.keras_conf, p.custom_conf) < 0.9 THEN 2 + least(p.keras_conf, p.custom_conf)
            ELSE 4 + least(p.keras_conf, p.custom_conf) END,
       true
FROM plan p ORDER BY p.n;
SELECT setval(pg_get_serial_sequence('recognizer_drawing', 'id'), :n);

INSERT INTO recognizer_drawingimage (drawing_id, image, model_input)
SELECT p.n, t.image || int8send(p.n), t.model_input
FROM plan p JOIN template t ON t.k = p.n % 64 ORDER BY p.n;

INSERT INTO recognizer_prediction (drawing_id, model_name, model_version, digit, probabilities, confidence, time_ms)
SELECT p.n, m.name, m.version,
       CASE WHEN m.name = 'keras' THEN p.digit ELSE p.custom_digit END,
       jsonb_build_array(0.001, 0.002, 0.001, 0.003, 0.001, 0.002, 0.001, 0.001, 0.002, 0.986),
       CASE WHEN m.name = 'keras' THEN p.keras_conf ELSE p.custom_conf END,
       0.08
FROM plan p
CROSS JOIN (VALUES ('keras', 'keras-2026-11-30'), ('custom', 'custom-2026-11-30')) AS m(name, version)
ORDER BY p.n, m.name;
