-- Fill the scratch database with :n drawings and both predictions each, by SQL, with issue 25's mix:
-- sources 90 % page, 8 % API, 1 % v2, 1 % TF Serving; 5 % staff labels, 2 % drawer feedback; 2 % disagreement;
-- 90 days of history. The bytes are those of drawings the app made (a PNG of the page's canvas and its 28x28 input,
-- ~1.5 KB + 784 bytes), repeated over 64 templates with a per-row salt so that no two rows are alike.
-- Runs against the schema of migration 0005 (before issue 25): the columns the new migration adds are filled by it.
\ir scale_templates.sql

CREATE TEMP TABLE plan AS
SELECT g AS n,
       (random() * 9.999)::int % 10 AS digit,
       random() AS r_source, random() AS r_label, random() AS r_disagree, random() AS r_conf, random() AS r_conf2,
       now() - random() * interval '90 days' AS created
FROM generate_series(1, :n) g;

INSERT INTO recognizer_drawing (created, image, image_type, model_input, preprocess_version, source, drawer_key,
                                agree, idempotency_key, label, label_source, labeled_by_id, labeled_at)
SELECT p.created,
       t.image || int8send(p.n),
       'image/png',
       t.model_input,
       'v3',
       CASE WHEN p.r_source < 0.90 THEN 'web' WHEN p.r_source < 0.98 THEN 'api'
            WHEN p.r_source < 0.99 THEN 'v2' ELSE 'tfserving' END,
       CASE WHEN p.r_source < 0.90 THEN md5('drawer' || (p.n % 50000)::text) ELSE '' END,
       p.r_disagree >= 0.02,
       CASE WHEN p.r_source >= 0.90 AND p.r_source < 0.98 THEN md5('key' || p.n::text) END,
       CASE WHEN p.r_label < 0.07 THEN CASE WHEN p.r_conf < 0.97 THEN p.digit ELSE (p.digit + 3) % 10 END END,
       CASE WHEN p.r_label < 0.05 THEN 'staff' WHEN p.r_label < 0.07 THEN 'user' ELSE '' END,
       NULL,
       CASE WHEN p.r_label < 0.07 THEN p.created + interval '1 hour' END
FROM plan p JOIN template t ON t.k = p.n % 64
ORDER BY p.created;

-- keras answers the planned digit; custom too unless the models disagree. Confidences pile up near 1.
INSERT INTO recognizer_prediction (drawing_id, model_name, model_version, digit, probabilities, confidence, time_ms)
SELECT d.id, m.name, m.version,
       CASE WHEN m.name = 'custom' AND NOT d.agree THEN (x.digit + 1 + (x.r_conf2 * 8)::int) % 10 ELSE x.digit END,
       jsonb_build_array(0.001, 0.002, 0.001, 0.003, 0.001, 0.002, 0.001, 0.001, 0.002, 0.986),
       CASE WHEN NOT d.agree THEN 0.3 + 0.6 * (CASE WHEN m.name = 'keras' THEN x.r_conf ELSE x.r_conf2 END)
            ELSE 1 - 0.6 * power(CASE WHEN m.name = 'keras' THEN x.r_conf ELSE x.r_conf2 END, 6) END,
       0.08
FROM recognizer_drawing d
JOIN LATERAL (SELECT (abs(hashint8(d.id)) % 10)::int AS digit,
                     (abs(hashint8(d.id * 7)) % 100000) / 100000.0 AS r_conf,
                     (abs(hashint8(d.id * 13)) % 100000) / 100000.0 AS r_conf2) x ON true
CROSS JOIN (VALUES ('keras', 'keras-2026-11-30'), ('custom', 'custom-2026-11-30')) AS m(name, version);

-- labels follow the keras digit for 97 % of the labeled drawings (the models are right about that often)
UPDATE recognizer_drawing d SET label = CASE WHEN (abs(hashint8(d.id * 31)) % 100) < 97 THEN p.digit
                                             ELSE (p.digit + 3) % 10 END
FROM recognizer_prediction p
WHERE p.drawing_id = d.id AND p.model_name = 'keras' AND d.label IS NOT NULL;
