-- +goose Up
-- create "account_revisions" table
CREATE TABLE `account_revisions` (`id` bigint NOT NULL AUTO_INCREMENT, `account_id` bigint NOT NULL, `revision` bigint NOT NULL DEFAULT 0, PRIMARY KEY (`id`), UNIQUE INDEX `accountrevision_account_id` (`account_id`)) CHARSET utf8mb4 COLLATE utf8mb4_bin AUTO_INCREMENT 107374182400;

-- +goose Down
-- reverse: create "account_revisions" table
DROP TABLE `account_revisions`;
