-- 004: the evaluation set (issue 13): recent labels held out from a retrain, kept for every
-- later comparison, so a new challenger is also judged on the traffic of earlier drift
-- episodes (it must not forget last month's scams). One row per distinct text: the first
-- held-out label of a text is kept. These messages never enter training.

CREATE TABLE IF NOT EXISTS evaluation_messages (
    text VARCHAR PRIMARY KEY,
    true_label VARCHAR NOT NULL,
    labelled_at TIMESTAMP NOT NULL,
    prediction_id VARCHAR,
    retraining_id VARCHAR NOT NULL,
    added_at TIMESTAMP NOT NULL
);
