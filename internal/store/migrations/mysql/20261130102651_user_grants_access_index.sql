-- +goose Up
-- modify "user_grants" table: the access index (data_set_id first) also serves the
-- data set's foreign key, so the single-column index goes (written by hand: the
-- generator keeps indexes that back a foreign key).
ALTER TABLE `user_grants` ADD INDEX `usergrant_data_set_id_kind_node_id_user_id` (`data_set_id`, `kind`, `node_id`, `user_id`), DROP INDEX `usergrant_data_set_id`;

-- +goose Down
-- reverse: modify "user_grants" table
ALTER TABLE `user_grants` ADD INDEX `usergrant_data_set_id` (`data_set_id`), DROP INDEX `usergrant_data_set_id_kind_node_id_user_id`;
