-- +goose Up
-- modify "users" table
ALTER TABLE `users` ADD INDEX `user_account_id_department` (`account_id`, `department`);

-- +goose Down
-- reverse: modify "users" table
ALTER TABLE `users` DROP INDEX `user_account_id_department`;
