//! Tags of what the CodePipeline API names by ARN: key-value pairs by the
//! kind (`pipeline`, `webhook`, `actiontype`) and name of the resource.
//! A pipeline's go with it when it is deleted.

use super::{Store, StoreError};

/// The most tags one resource may have (AWS's limit).
pub const MAX_TAGS: usize = 50;

impl Store {
    /// A resource's tags, by key.
    pub fn tags(&self, kind: &str, name: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.db
            .query(
                "SELECT key, value FROM aws_tags WHERE kind = ?1 AND name = ?2 ORDER BY key",
                args![kind, name],
            )?
            .into_iter()
            .map(|row| Ok((row.get(0)?, row.get(1)?)))
            .collect()
    }

    /// Sets `tags` on a resource (a key it has is given the new value), in
    /// one transaction; refused, changing nothing, when the resource would
    /// have more than [`MAX_TAGS`] (`Err` with how many it would have).
    pub fn tag(
        &mut self,
        kind: &str,
        name: &str,
        tags: &[(String, String)],
    ) -> Result<Result<(), usize>, StoreError> {
        self.db.write(|db| {
            let mut keys: std::collections::BTreeSet<String> = db
                .query(
                    "SELECT key FROM aws_tags WHERE kind = ?1 AND name = ?2",
                    args![kind, name],
                )?
                .into_iter()
                .map(|row| row.get(0))
                .collect::<Result<_, _>>()?;
            keys.extend(tags.iter().map(|(k, _)| k.clone()));
            if keys.len() > MAX_TAGS {
                return Ok(Err(keys.len()));
            }
            for (key, value) in tags {
                db.execute(
                    "INSERT INTO aws_tags (kind, name, key, value) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (kind, name, key) DO UPDATE SET value = excluded.value",
                    args![kind, name, key, value],
                )?;
            }
            Ok(Ok(()))
        })
    }

    /// Removes the tags of these keys from a resource (keys it lacks are
    /// left alone).
    pub fn untag(&mut self, kind: &str, name: &str, keys: &[String]) -> Result<(), StoreError> {
        self.db.write(|db| {
            for key in keys {
                db.execute(
                    "DELETE FROM aws_tags WHERE kind = ?1 AND name = ?2 AND key = ?3",
                    args![kind, name, key],
                )?;
            }
            Ok(())
        })
    }

    /// Removes every tag of a resource.
    pub fn forget_tags(&mut self, kind: &str, name: &str) -> Result<(), StoreError> {
        self.db.execute(
            "DELETE FROM aws_tags WHERE kind = ?1 AND name = ?2",
            args![kind, name],
        )?;
        Ok(())
    }
}
