//! Custom action types of the CodePipeline API (`CreateCustomActionType`):
//! each kept by its identity (category, owner, provider, version) with its
//! definition, a JSON object `aws::action_types` writes and reads. Its
//! tags (kind `actiontype`, named `Owner/Category/Provider/Version` as its
//! ARN names it) go with it.

use super::{Store, StoreError};
use crate::records::now_millis;

/// The name an action type's tags are kept under: its ARN's resource part.
fn tag_name(category: &str, owner: &str, provider: &str, version: &str) -> String {
    format!("{owner}/{category}/{provider}/{version}")
}

impl Store {
    /// The definition of the custom action type `category`, `owner`,
    /// `provider`, `version`, if it is kept: a JSON object shaped as
    /// CodePipeline's `ActionType` (`id`, `settings`,
    /// `actionConfigurationProperties`, `inputArtifactDetails`,
    /// `outputArtifactDetails`), with the members only `GetActionType`
    /// answers beside them when an `UpdateActionType` gave them
    /// (`description`, `executor`, `permissions`).
    pub fn action_type(
        &self,
        category: &str,
        owner: &str,
        provider: &str,
        version: &str,
    ) -> Result<Option<String>, StoreError> {
        self.db
            .query_opt(
                "SELECT definition FROM aws_action_types
                 WHERE category = ?1 AND owner = ?2 AND provider = ?3 AND version = ?4",
                args![category, owner, provider, version],
            )?
            .map(|row| row.get(0))
            .transpose()
    }

    /// Every kept custom action type's definition, by owner, category,
    /// provider and version.
    pub fn action_types(&self) -> Result<Vec<String>, StoreError> {
        self.db
            .query(
                "SELECT definition FROM aws_action_types
                 ORDER BY owner, category, provider, version",
                args![],
            )?
            .into_iter()
            .map(|row| row.get(0))
            .collect()
    }

    /// Keeps a new custom action type. When one of this identity is kept
    /// already, nothing changes and its definition is answered.
    pub fn create_action_type(
        &mut self,
        category: &str,
        owner: &str,
        provider: &str,
        version: &str,
        definition: &str,
    ) -> Result<Option<String>, StoreError> {
        self.db.write(|db| {
            let existing = db.query_opt(
                "SELECT definition FROM aws_action_types
                 WHERE category = ?1 AND owner = ?2 AND provider = ?3 AND version = ?4",
                args![category, owner, provider, version],
            )?;
            if let Some(row) = existing {
                return Ok(Some(row.get(0)?));
            }
            let now = now_millis();
            db.execute(
                "INSERT INTO aws_action_types
                 (category, owner, provider, version, definition, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                args![category, owner, provider, version, definition, now],
            )?;
            Ok(None)
        })
    }

    /// Replaces a kept custom action type's definition; `false` when there
    /// is none of this identity.
    pub fn update_action_type(
        &mut self,
        category: &str,
        owner: &str,
        provider: &str,
        version: &str,
        definition: &str,
    ) -> Result<bool, StoreError> {
        let changed = self.db.execute(
            "UPDATE aws_action_types SET definition = ?5, updated_at = ?6
             WHERE category = ?1 AND owner = ?2 AND provider = ?3 AND version = ?4",
            args![category, owner, provider, version, definition, now_millis()],
        )?;
        Ok(changed > 0)
    }

    /// Removes a custom action type and its tags, in one transaction;
    /// `false` when there was none of this identity.
    pub fn delete_action_type(
        &mut self,
        category: &str,
        owner: &str,
        provider: &str,
        version: &str,
    ) -> Result<bool, StoreError> {
        let name = tag_name(category, owner, provider, version);
        self.db.write(|db| {
            db.execute(
                "DELETE FROM aws_tags WHERE kind = 'actiontype' AND name = ?1",
                args![name],
            )?;
            let removed = db.execute(
                "DELETE FROM aws_action_types
                 WHERE category = ?1 AND owner = ?2 AND provider = ?3 AND version = ?4",
                args![category, owner, provider, version],
            )?;
            Ok(removed > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_action_type_is_kept_replaced_and_removed_with_its_tags() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let id = ["Deploy", "Custom", "MyDeployer", "1"];
        let [c, o, p, v] = id;
        assert_eq!(store.action_type(c, o, p, v).unwrap(), None);
        assert_eq!(store.create_action_type(c, o, p, v, "{}").unwrap(), None);
        // Created again: the first definition stays and is answered.
        assert_eq!(
            store.create_action_type(c, o, p, v, "{\"x\":1}").unwrap(),
            Some("{}".into())
        );
        assert!(store.update_action_type(c, o, p, v, "{\"y\":2}").unwrap());
        assert!(!store.update_action_type(c, o, p, "2", "{}").unwrap());
        assert_eq!(
            store.action_type(c, o, p, v).unwrap().as_deref(),
            Some("{\"y\":2}")
        );
        store
            .tag(
                "actiontype",
                "Custom/Deploy/MyDeployer/1",
                &[("team".into(), "ops".into())],
            )
            .unwrap()
            .unwrap();
        assert_eq!(store.action_types().unwrap(), vec!["{\"y\":2}".to_string()]);
        assert!(store.delete_action_type(c, o, p, v).unwrap());
        assert!(!store.delete_action_type(c, o, p, v).unwrap());
        assert_eq!(store.action_type(c, o, p, v).unwrap(), None);
        assert!(
            store
                .tags("actiontype", "Custom/Deploy/MyDeployer/1")
                .unwrap()
                .is_empty()
        );
    }
}
