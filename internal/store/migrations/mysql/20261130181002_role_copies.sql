-- +goose Up
-- create "role_copies" table
CREATE TABLE `role_copies` (`id` bigint NOT NULL AUTO_INCREMENT, `role_id` bigint NOT NULL, `role_name` varchar(200) NOT NULL, `granted_at` datetime(6) NOT NULL, `account_id` bigint NOT NULL, `granted_by_id` bigint NULL, PRIMARY KEY (`id`), INDEX `role_copies_accounts_account` (`account_id`), INDEX `role_copies_users_granted_by` (`granted_by_id`), CONSTRAINT `role_copies_accounts_account` FOREIGN KEY (`account_id`) REFERENCES `accounts` (`id`) ON UPDATE RESTRICT ON DELETE CASCADE, CONSTRAINT `role_copies_users_granted_by` FOREIGN KEY (`granted_by_id`) REFERENCES `users` (`id`) ON UPDATE RESTRICT ON DELETE SET NULL) CHARSET utf8mb4 COLLATE utf8mb4_bin AUTO_INCREMENT 111669149696;
-- create "role_copy_rights" table
CREATE TABLE `role_copy_rights` (`role_copy_id` bigint NOT NULL, `right_id` bigint NOT NULL, PRIMARY KEY (`role_copy_id`, `right_id`), INDEX `role_copy_rights_right_id` (`right_id`), CONSTRAINT `role_copy_rights_right_id` FOREIGN KEY (`right_id`) REFERENCES `rights` (`id`) ON UPDATE RESTRICT ON DELETE CASCADE, CONSTRAINT `role_copy_rights_role_copy_id` FOREIGN KEY (`role_copy_id`) REFERENCES `role_copies` (`id`) ON UPDATE RESTRICT ON DELETE CASCADE) CHARSET utf8mb4 COLLATE utf8mb4_bin;
-- create "user_role_copies" table
CREATE TABLE `user_role_copies` (`id` bigint NOT NULL AUTO_INCREMENT, `account_id` bigint NOT NULL, `user_id` bigint NOT NULL, `role_copy_id` bigint NOT NULL, PRIMARY KEY (`id`), INDEX `userrolecopy_role_copy_id` (`role_copy_id`), UNIQUE INDEX `userrolecopy_user_id_role_copy_id` (`user_id`, `role_copy_id`), INDEX `user_role_copies_accounts_account` (`account_id`), CONSTRAINT `user_role_copies_accounts_account` FOREIGN KEY (`account_id`) REFERENCES `accounts` (`id`) ON UPDATE RESTRICT ON DELETE CASCADE, CONSTRAINT `user_role_copies_role_copies_role_copy` FOREIGN KEY (`role_copy_id`) REFERENCES `role_copies` (`id`) ON UPDATE RESTRICT ON DELETE CASCADE, CONSTRAINT `user_role_copies_users_user` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON UPDATE RESTRICT ON DELETE CASCADE) CHARSET utf8mb4 COLLATE utf8mb4_bin AUTO_INCREMENT 115964116992;

-- +goose Down
-- reverse: create "user_role_copies" table
DROP TABLE `user_role_copies`;
-- reverse: create "role_copy_rights" table
DROP TABLE `role_copy_rights`;
-- reverse: create "role_copies" table
DROP TABLE `role_copies`;
