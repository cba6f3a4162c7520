-- +goose Up
-- The price catalog (SPEC §5.6): what one unit of a tool with a model costs.
-- It is the operator's and global, not per organization. Prices are BIGINT
-- milli-credits (1 credit = 1000), like every amount of the ledger.
CREATE TABLE price_catalog (
    id               BIGSERIAL PRIMARY KEY,
    tool             TEXT        NOT NULL CHECK (tool <> ''),
    model            TEXT        NOT NULL CHECK (model <> ''),
    unit             TEXT        NOT NULL CHECK (unit <> ''),
    credits_per_unit BIGINT      NOT NULL CHECK (credits_per_unit > 0),
    category         TEXT        NOT NULL CHECK (category IN ('chatbot', 'image_speech')),
    -- Where the price comes from: 'published rate', 'published example', 'assumed', ...
    source           TEXT        NOT NULL DEFAULT '',
    active           BOOLEAN     NOT NULL DEFAULT TRUE,
    updated_at       TIMESTAMPTZ NOT NULL,
    CONSTRAINT price_catalog_tool_model UNIQUE (tool, model)
);

-- +goose Down
DROP TABLE price_catalog;
