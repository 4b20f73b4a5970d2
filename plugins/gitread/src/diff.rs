//! Which files differ between two commits, for trigger filters such as
//! "run only when something under `docs/` changed".

use std::collections::BTreeMap;

use crate::objects::{EntryKind, TreeEntry};
use crate::{Error, ObjectId, Repository};

impl Repository {
    /// The `/`-separated paths of files (and symlinks and submodules) that
    /// were added, removed or changed from `from` to `to`, sorted. A mode
    /// change (made executable) counts as a change; a rename shows as the
    /// old path and the new one, as `git diff --no-renames --name-only`.
    ///
    /// Subtrees with the same id on both sides are skipped unread, so the
    /// cost follows the size of the change, not of the repository.
    pub fn changed_paths(&self, from: &ObjectId, to: &ObjectId) -> Result<Vec<String>, Error> {
        let old = self.commit(from)?.tree;
        let new = self.commit(to)?.tree;
        let mut changed = Vec::new();
        // Pairs of trees still to compare (either side may be absent) and
        // their path. A stack, not recursion: trees can nest deeply.
        let mut pending = vec![(Some(old), Some(new), String::new())];
        while let Some((old, new, prefix)) = pending.pop() {
            if old == new {
                continue;
            }
            let old = self.entries_by_name(old)?;
            let new = self.entries_by_name(new)?;
            let mut names: Vec<&Vec<u8>> = old.keys().chain(new.keys()).collect();
            names.sort();
            names.dedup();
            for name in names {
                let (old, new) = (old.get(name), new.get(name));
                if let (Some(a), Some(b)) = (old, new)
                    && a.id == b.id
                    && a.kind == b.kind
                {
                    continue;
                }
                let path = if prefix.is_empty() {
                    String::from_utf8_lossy(name).into_owned()
                } else {
                    format!("{prefix}/{}", String::from_utf8_lossy(name))
                };
                let tree_of = |entry: Option<&TreeEntry>| {
                    entry.filter(|e| e.kind == EntryKind::Tree).map(|e| e.id)
                };
                let (old_tree, new_tree) = (tree_of(old), tree_of(new));
                let old_leaf = old.filter(|e| e.kind != EntryKind::Tree);
                let new_leaf = new.filter(|e| e.kind != EntryKind::Tree);
                let leaf_changed = match (old_leaf, new_leaf) {
                    (None, None) => false,
                    (Some(a), Some(b)) => a.id != b.id || a.kind != b.kind,
                    _ => true,
                };
                if leaf_changed {
                    changed.push(path.clone());
                }
                if old_tree.is_some() || new_tree.is_some() {
                    pending.push((old_tree, new_tree, path));
                }
            }
        }
        changed.sort();
        changed.dedup();
        Ok(changed)
    }

    /// The entries of a tree keyed by name; no tree means no entries.
    fn entries_by_name(
        &self,
        tree: Option<ObjectId>,
    ) -> Result<BTreeMap<Vec<u8>, TreeEntry>, Error> {
        let Some(tree) = tree else {
            return Ok(BTreeMap::new());
        };
        Ok(self
            .tree(&tree)?
            .entries
            .into_iter()
            .map(|entry| (entry.name.clone(), entry))
            .collect())
    }
}
