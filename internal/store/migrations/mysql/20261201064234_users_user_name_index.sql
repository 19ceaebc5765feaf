-- +goose Up
-- modify "users" table
ALTER TABLE `users` ADD INDEX `user_account_id_user_name` (`account_id`, `user_name`);

-- +goose Down
-- reverse: modify "users" table
ALTER TABLE `users` DROP INDEX `user_account_id_user_name`;
