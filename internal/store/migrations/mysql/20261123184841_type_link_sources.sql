-- +goose Up
-- create "type_link_sources" table
CREATE TABLE `type_link_sources` (`id` bigint NOT NULL AUTO_INCREMENT, `account_id` bigint NOT NULL, `user_id` bigint NOT NULL, `user_type_id` bigint NOT NULL, `group_id` bigint NULL, PRIMARY KEY (`id`), INDEX `typelinksource_group_id_user_type_id` (`group_id`, `user_type_id`), INDEX `typelinksource_user_id_user_type_id` (`user_id`, `user_type_id`), INDEX `typelinksource_user_type_id` (`user_type_id`), INDEX `type_link_sources_accounts_account` (`account_id`), CONSTRAINT `type_link_sources_accounts_account` FOREIGN KEY (`account_id`) REFERENCES `accounts` (`id`) ON UPDATE RESTRICT ON DELETE CASCADE, CONSTRAINT `type_link_sources_groups_group` FOREIGN KEY (`group_id`) REFERENCES `groups` (`id`) ON UPDATE RESTRICT ON DELETE CASCADE, CONSTRAINT `type_link_sources_user_types_user_type` FOREIGN KEY (`user_type_id`) REFERENCES `user_types` (`id`) ON UPDATE RESTRICT ON DELETE CASCADE, CONSTRAINT `type_link_sources_users_user` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON UPDATE RESTRICT ON DELETE CASCADE) CHARSET utf8mb4 COLLATE utf8mb4_bin AUTO_INCREMENT 103079215104;

-- +goose Down
-- reverse: create "type_link_sources" table
DROP TABLE `type_link_sources`;
